"""Record parsing: v1.1/v1.2 shapes, lenient values, strict sourcedId."""

from datetime import UTC, date, datetime

import pytest

from sisapp.oneroster import ErrorCode, OneRosterError, User, UserRole
from sisapp.oneroster import records as r


def test_v11_user_shape():
    user = r.parse_user(
        {
            "sourcedId": "u1",
            "status": "active",
            "dateLastModified": "2026-01-02T03:04:05.123Z",
            "username": "jdoe",
            "enabledUser": "true",
            "givenName": "Jane",
            "familyName": "Doe",
            "role": "Teacher",
            "email": "jane@example.org",
            "orgs": [{"sourcedId": "s1", "type": "org"}, {"sourcedId": "s2"}],
            "agents": [{"sourcedId": "p1"}],
            "phone": 5551234,
            "identifier": "",
            "unknownField": {"x": 1},
        }
    )
    assert isinstance(user, User)
    assert user.role == "teacher"
    assert user.roles == (
        UserRole("teacher", "primary", "s1"),
        UserRole("teacher", "primary", "s2"),
    )
    assert user.org_ids == ("s1", "s2")
    assert user.agent_ids == ("p1",)
    assert user.enabled is True
    assert user.phone == "5551234"
    assert user.identifier is None
    assert user.date_last_modified == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


def test_v12_user_shape_primary_role_first():
    user = r.parse_user(
        {
            "sourcedId": "u2",
            "status": "active",
            "enabledUser": False,
            "roles": [
                {"roleType": "secondary", "role": "teacher", "org": {"sourcedId": "s2"}},
                {
                    "roleType": "primary",
                    "role": "districtAdministrator",
                    "org": {"sourcedId": "d1"},
                },
            ],
            "primaryOrg": {"sourcedId": "d1"},
        }
    )
    assert user.role == "districtAdministrator"
    assert user.roles[0] == UserRole("districtAdministrator", "primary", "d1")
    assert user.roles[1] == UserRole("teacher", "secondary", "s2")
    assert user.org_ids == ("d1", "s2")
    assert user.enabled is False


def test_parent_without_org():
    user = r.parse_user({"sourcedId": "p1", "role": "parent", "agents": [{"sourcedId": "u1"}]})
    assert user.role == "parent"
    assert user.org_ids == ()
    assert user.roles == (UserRole("parent", "primary", None),)
    assert user.status == "active"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        (None, True),
        ("garbage", True),
    ],
)
def test_enabled_user_values(value, expected):
    raw = {"sourcedId": "u", "role": "student"}
    if value is not None:
        raw["enabledUser"] = value
    assert r.parse_user(raw).enabled is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("active", "active"),
        ("tobedeleted", "tobedeleted"),
        ("inactive", "tobedeleted"),
        ("Inactive", "tobedeleted"),
        (None, "active"),
    ],
)
def test_status_normalised(value, expected):
    assert r.parse_org({"sourcedId": "o", "status": value}).status == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (None, None),
        ("2026-01-02", date(2026, 1, 2)),
        ("2026-01-02T10:00:00Z", date(2026, 1, 2)),
        ("nonsense", None),
    ],
)
def test_dates(value, expected):
    raw = {"sourcedId": "e", "beginDate": value, "primary": "true"}
    enrollment = r.parse_enrollment(raw)
    assert enrollment.begin_date == expected
    assert enrollment.end_date is None
    assert enrollment.primary is True


def test_enrollment_class_session_course():
    enrollment = r.parse_enrollment(
        {
            "sourcedId": "e1",
            "user": {"sourcedId": "u1"},
            "class": {"sourcedId": "c1"},
            "school": {"sourcedId": "s1"},
            "role": "student",
            "primary": 0,
            "status": "active",
            "endDate": "2026-06-30",
        }
    )
    assert (enrollment.user_id, enrollment.class_id, enrollment.school_id) == ("u1", "c1", "s1")
    assert enrollment.primary is False and enrollment.end_date == date(2026, 6, 30)
    klass = r.parse_class(
        {
            "sourcedId": "c1",
            "title": "Math",
            "classType": "scheduled",
            "course": {"sourcedId": "k1"},
            "school": {"sourcedId": "s1"},
            "terms": [{"sourcedId": "t1"}, {"sourcedId": "t2"}],
        }
    )
    assert klass.term_ids == ("t1", "t2") and klass.course_id == "k1" and klass.school_id == "s1"
    session = r.parse_academic_session(
        {
            "sourcedId": "t1",
            "title": "Fall",
            "type": "term",
            "startDate": "2025-09-01",
            "endDate": "2026-01-31",
            "parent": {"sourcedId": "y1"},
            "schoolYear": 2026,
        }
    )
    assert session.parent_id == "y1" and session.school_year == "2026"
    assert session.start_date == date(2025, 9, 1)
    course = r.parse_course(
        {"sourcedId": "k1", "title": "Math", "courseCode": "M1", "org": {"sourcedId": "s1"}}
    )
    assert course.school_id == "s1"


def test_naive_timestamp_is_utc():
    org = r.parse_org({"sourcedId": "o", "dateLastModified": "2026-01-02T03:04:05"})
    assert org.date_last_modified.tzinfo is not None


@pytest.mark.parametrize("raw", [{"name": "x"}, {"sourcedId": ""}, {"sourcedId": None}, "notadict"])
def test_record_without_sourced_id_is_malformed(raw):
    with pytest.raises(OneRosterError) as info:
        r.parse_user(raw, "/users")
    assert info.value.code is ErrorCode.MALFORMED_PAGE


def test_records_are_slotted_and_frozen():
    org = r.parse_org({"sourcedId": "o"})
    assert not hasattr(org, "__dict__")
    with pytest.raises(AttributeError):
        org.name = "x"
