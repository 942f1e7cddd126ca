"""expected_counts on a tiny hand-built district where every number is worked out by hand."""

from __future__ import annotations

import json

import pytest

from sisapp.demo_sis import DistrictSpec
from sisapp.demo_sis.district import District
from sisapp.demo_sis.expected import all_expected, option_key
from tests.helpers.demo_api import TODAY


def _ref(sid, kind):
    return {"sourcedId": sid, "type": kind}


def _user(sid, role, email=None, orgs=("s1",), status="active", enabled="true", agents=()):
    user = {
        "sourcedId": sid,
        "status": status,
        "enabledUser": enabled,
        "role": role,
        "givenName": sid,
        "familyName": "X",
        "orgs": [_ref(o, "org") for o in orgs],
        "agents": [_ref(a, "user") for a in agents],
    }
    if email is not None:
        user["email"] = email
    return user


def _enrol(user, school="s1", begin="2025-08-20", end="2026-08-01"):
    e = {
        "sourcedId": f"e-{user}-{school}",
        "status": "active",
        "user": _ref(user, "user"),
        "school": _ref(school, "org"),
        "class": _ref("c1", "class"),
        "role": "student",
    }
    if begin != "missing":
        e["beginDate"] = begin
    e["endDate"] = end
    return e


def _class(sid, school, terms, status="active"):
    return {
        "sourcedId": sid,
        "status": status,
        "school": _ref(school, "org"),
        "terms": [_ref(t, "academicSession") for t in terms],
    }


def _session(sid, start, end):
    return {
        "sourcedId": sid,
        "status": "active",
        "type": "term",
        "startDate": start,
        "endDate": end,
    }


@pytest.fixture
def tiny():
    users = [
        _user("u01", "student", "a@x", agents=("p1", "p3", "p6", "p7", "p8")),
        _user("u02", "student", " B@X "),
        _user("u03", "student", "c@x", agents=("p5",)),
        _user("u04", "student"),
        _user("u05", "student", "zz@x", agents=("p4",)),
        _user("u06", "student", "DUP@x", agents=("p7",)),
        _user("u07", "teacher", "dup@x"),
        _user("u08", "teacher", "t1@x", orgs=("s2",)),
        _user("u09", "student", "a2@x", status="tobedeleted"),
        _user("u10", "student", "en@x", enabled="false"),
        _user("u11", "administrator", "adm@x"),
        _user("u12", "student", "fut@x"),
        _user("u13", "student", "two@x", orgs=("s1", "s2")),
        _user("u14", "teacher", "C@x "),
        _user("p1", "parent", "p1@fam"),
        _user("p2", "guardian", "g@fam", agents=("u02",)),
        _user("p3", "parent", "  "),
        _user("p4", "parent", "p4@fam"),
        _user("p5", "relative", "r@fam"),
        _user("p6", "parent", "p6@fam", enabled="false"),
        _user("p7", "parent", "p7@fam"),
        _user("p8", "", "p8@fam"),
        _user("p9", "parent", "p9@fam", status="tobedeleted", agents=("u02",)),
    ]
    enrollments = [
        _enrol("u01"),
        _enrol("u02", begin="", end=None),
        _enrol("u03", end="2026-03-02"),
        _enrol("u04"),
        _enrol("u05"),
        _enrol("u06", begin="missing"),
        _enrol("u12", begin="2026-03-03"),
        _enrol("u13", "s2", begin="2026-03-02", end="2026-03-03"),
    ]
    sessions = [
        _session("cur", "2025-08-01", "2026-08-01"),
        _session("past", "2024-08-01", "2025-08-01"),
        _session("future", "2026-03-03", "2026-08-01"),
        _session("today", "2026-03-02", "2026-08-01"),
        _session("ends", "2025-08-01", "2026-03-02"),
    ]
    classes = [
        _class("c1", "s1", ["cur"]),
        _class("c2", "s1", ["past"]),
        _class("c3", "s2", ["future"]),
        _class("c4", "s1", ["cur"], status="tobedeleted"),
        _class("c5", "s1", ["past", "cur"]),
        _class("c6", "s2", ["today"]),
        _class("c7", "s1", ["ends"]),
    ]
    directory = [
        {"email": e}
        for e in ("a@x", "b@x", "c@x", "t1@x", "dup@x", "a2@x", "en@x", "adm@x", "fut@x", "two@x")
    ]
    orgs = [{"sourcedId": s, "type": "school", "status": "active"} for s in ("s1", "s2")]
    spec = DistrictSpec(schools=2, students=10, seed=0, today=TODAY)
    return District(spec, TODAY, orgs, sessions, [], classes, users, enrollments, directory)


def _counts(unmatched, students, teachers, classes, parents=0):
    return {
        "unmatched_users": unmatched,
        "matched_students": students,
        "matched_teachers": teachers,
        "imported_classes": classes,
        "parents": parents,
    }


def test_default_options(tiny):
    assert tiny.expected_counts() == _counts(2, 6, 1, 6)


def test_respect_enrolment_date_leaves_students_out_and_frees_their_email(tiny):
    # u03 (ended today) and u12 (starts tomorrow) are left out; u14 then owns c@x.
    assert tiny.expected_counts(respect_enrolment_date=True) == _counts(2, 4, 2, 6)


def test_excluded_school(tiny):
    assert tiny.expected_counts(excluded_schools=("s2",)) == _counts(2, 6, 0, 4)
    both = tiny.expected_counts(respect_enrolment_date=True, excluded_schools=("s2",))
    assert both == _counts(2, 3, 1, 4)


def test_classes_and_academic_sessions(tiny):
    assert tiny.expected_counts(classes=False)["imported_classes"] == 0
    assert tiny.expected_counts(respect_academic_sessions=True)["imported_classes"] == 3
    assert (
        tiny.expected_counts(respect_academic_sessions=True, excluded_schools=["s2"])[
            "imported_classes"
        ]
        == 2
    )


@pytest.mark.parametrize(
    ("relationship", "respect", "expected"),
    [
        (None, False, 0),
        ("parent", False, 2),
        ("guardian", False, 1),
        ("relative", False, 1),
        ("relative", True, 0),
    ],
)
def test_parents(tiny, relationship, respect, expected):
    counts = tiny.expected_counts(parents=relationship, respect_enrolment_date=respect)
    assert counts["parents"] == expected


def test_generated_district_exercises_every_branch(district):
    plain = district.expected_counts()
    enrol = district.expected_counts(respect_enrolment_date=True)
    assert plain["unmatched_users"] > 0 and plain["matched_teachers"] > 0
    assert enrol["matched_students"] < plain["matched_students"]
    assert (
        district.expected_counts(respect_academic_sessions=True)["imported_classes"]
        < plain["imported_classes"]
    )
    parents = {
        p: district.expected_counts(parents=p)["parents"]
        for p in ("parent", "guardian", "relative")
    }
    assert all(parents.values())
    excluded = district.expected_counts(excluded_schools=[district.schools[0]["sourcedId"]])
    assert excluded["matched_students"] < plain["matched_students"]
    eligible = [
        u
        for u in district.users
        if u["role"] in ("student", "teacher")
        and u["status"] == "active"
        and u["enabledUser"] == "true"
    ]
    # Duplicates exist, so matched + unmatched is less than the eligible users.
    assert plain["matched_students"] + plain["matched_teachers"] + plain["unmatched_users"] < len(
        eligible
    )


def test_expected_json_has_every_combination(district, tmp_path):
    path = tmp_path / "expected.json"
    district.write_expected_json(path)
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(all_expected(district)))
    assert len(data["counts"]) == 2 * 2 * 2 * 4
    key = option_key(True, True, False, "guardian")
    assert data["counts"][key] == district.expected_counts(
        respect_enrolment_date=True, parents="guardian"
    )
