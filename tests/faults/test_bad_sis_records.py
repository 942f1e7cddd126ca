"""SIS records with missing or wrong-typed fields, huge strings, control characters and
HTML (hypothesis and a fixed hostile set): parsed into a record or a coded error, synced
with a warning or a coded failure, never a crash, and stored only as storable text."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock
from flask import current_app
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import Classroom, SisOrg, SisUser, SyncRun, SyncStatus, UnmatchedUser
from sisapp.oneroster import ErrorCode, OneRosterError
from sisapp.oneroster import records as parse
from sisapp.services.directory import import_directory_csv
from sisapp.services.integrations import IntegrationData, create_integration
from sisapp.sync import SyncEnvironment, run_sync
from tests.faults.strategies import NASTY, fast

SIS_TEXT = [*NASTY, "\ud800lone surrogate", "x" * 20000, "Ünïcödé ñame", "  padded  "]
sis_text = st.one_of(st.sampled_from(SIS_TEXT), st.text(max_size=20))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    sis_text,
    st.sampled_from(["2026-01-02", "9999-12-31", "0001-01-01T00:00:00Z", "2026-13-45", "true"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(sis_text, inner, max_size=3),
    max_leaves=6,
)
FIELDS = {
    parse.parse_org: ["sourcedId", "name", "type", "identifier", "status", "dateLastModified"],
    parse.parse_academic_session: ["sourcedId", "title", "type", "startDate", "endDate", "parent"],
    parse.parse_class: ["sourcedId", "title", "classCode", "course", "school", "terms", "status"],
    parse.parse_user: [
        "sourcedId",
        "givenName",
        "familyName",
        "email",
        "role",
        "roles",
        "enabledUser",
        "orgs",
        "agents",
        "primaryOrg",
        "phone",
        "status",
    ],
    parse.parse_enrollment: [
        "sourcedId",
        "user",
        "class",
        "school",
        "role",
        "primary",
        "beginDate",
        "endDate",
        "status",
    ],
}


def raw_records(parser):
    keys = FIELDS[parser]
    known = st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys))
    return st.one_of(known, json_values)


@fast(150)
@given(data=st.data())
def test_record_parsers_give_a_record_or_a_coded_error(data):
    parser = data.draw(st.sampled_from(sorted(FIELDS, key=lambda f: f.__name__)))
    raw = data.draw(raw_records(parser))
    try:
        record = parser(raw, "/users")
    except OneRosterError as exc:
        assert exc.code is ErrorCode.MALFORMED_PAGE
        return
    assert isinstance(record.sourced_id, str) and record.sourced_id
    assert record.status in ("active", "tobedeleted")
    for name in record.__slots__:
        value = getattr(record, name)
        if isinstance(value, str):
            assert value == value.strip() and value  # text fields are trimmed, never empty
        elif isinstance(value, tuple):
            assert all(isinstance(item, str | parse.UserRole) for item in value)


class FakeSIS:
    """A OneRoster v1.1 server in requests-mock serving whatever records the test gives."""

    base = "http://127.0.0.1:9/ims/oneroster/v1p1"

    def __init__(self, collections: dict):
        self.collections = collections

    def answer(self, request, context):
        path = urlsplit(request.url).path[len(urlsplit(self.base).path) :]
        key = {
            "/schools": "orgs",
            "/academicSessions": "academicSessions",
            "/users": "users",
            "/schools/sch-1/classes": "classes",
            "/schools/sch-1/enrollments": "enrollments",
        }.get(path)
        if key is None:
            context.status_code = 404
            return {"imsx_codeMajor": "failure", "imsx_description": "no such collection"}
        offset = int(parse_qs(urlsplit(request.url).query).get("offset", ["0"])[0])
        rows = self.collections.get(key, [])
        context.headers["X-Total-Count"] = str(len(rows))
        return {key: rows if offset == 0 else []}

    def install(self, mocker) -> None:
        text = lambda request, context: json.dumps(self.answer(request, context))  # noqa: E731
        mocker.get(re.compile(re.escape(self.base) + "/"), text=text)


def perturbed(base: dict, changes: dict, drops: list[str], sourced_id) -> dict:
    record = {**base, **changes}
    for key in drops:
        record.pop(key, None)
    if sourced_id is not None:  # a record without one fails the read (tested above): rarer
        record["sourcedId"] = sourced_id
    return record


def sis_records(bases: list[dict]):
    """Each base record with up to three fields given odd values and two dropped."""
    keys = sorted({key for base in bases for key in base} - {"sourcedId"} | {"extraField"})
    odd_id = st.one_of(st.none(), json_values)
    odd_value = st.one_of(sis_text, sis_text, scalars, json_values)  # mostly strings
    one = st.tuples(
        st.dictionaries(st.sampled_from(keys), odd_value, max_size=3),
        st.lists(st.sampled_from(keys), max_size=2),
        odd_id,
    )
    return st.lists(one, min_size=len(bases), max_size=len(bases)).map(
        lambda edits: [perturbed(b, *edit) for b, edit in zip(bases, edits, strict=True)]
    )


SCHOOL = {"sourcedId": "sch-1", "name": "School", "type": "school", "status": "active"}
USERS = [
    {
        "sourcedId": f"u{i}",
        "status": "active",
        "role": "teacher" if i == 0 else "student",
        "givenName": f"Given{i}",
        "familyName": "Family",
        "email": f"u{i}@sis.example",
        "enabledUser": "true",
        "orgs": [{"sourcedId": "sch-1", "type": "org"}],
    }
    for i in range(5)
]
CLASSES = [
    {
        "sourcedId": f"c{i}",
        "status": "active",
        "title": f"Class {i}",
        "classCode": f"C{i}",
        "school": {"sourcedId": "sch-1"},
        "terms": [],
    }
    for i in range(2)
]
ENROLLMENTS = [
    {
        "sourcedId": f"e{i}",
        "status": "active",
        "role": "teacher" if i % 5 == 0 else "student",
        "user": {"sourcedId": f"u{i % 5}"},
        "class": {"sourcedId": f"c{i % 2}"},
        "school": {"sourcedId": "sch-1"},
    }
    for i in range(6)
]


@pytest.fixture
def fuzz_integration(app, device):
    import_directory_csv(
        device,
        "email,given_name,family_name,kind,source\n"
        + "".join(
            f"u{i}@sis.example,G,F,{'teacher' if i == 0 else 'student'},csv\n" for i in range(4)
        ),
    )
    data = IntegrationData(
        name="Fuzzed SIS",
        sis_vendor="other",
        endpoint_url=FakeSIS.base,
        client_id="fuzz-client",
        client_secret="fuzz-secret-value",
    )
    return create_integration(device.id, data, SecretBox(app.config["ENCRYPTION_KEY"]))


@pytest.mark.slow
@fast(30)
@given(
    school=sis_records([SCHOOL]),
    users=sis_records(USERS),
    classes=sis_records(CLASSES),
    enrollments=sis_records(ENROLLMENTS),
    odd_ids=st.sampled_from([False, False, True]),
)
def test_a_sync_of_bad_sis_records_ends_coded_never_crashes(
    fuzz_integration, auth_client, school, users, classes, enrollments, odd_ids
):
    db.session.rollback()
    db.session.execute(delete(SyncRun))  # a failed example leaves no active run behind
    db.session.commit()
    if not odd_ids:  # most examples keep the ids, so the read gets past the first record
        for records, bases in (
            (school, [SCHOOL]),
            (users, USERS),
            (classes, CLASSES),
            (enrollments, ENROLLMENTS),
        ):
            for record, base in zip(records, bases, strict=True):
                record["sourcedId"] = base["sourcedId"]
    sis = FakeSIS({"orgs": school, "users": users, "classes": classes, "enrollments": enrollments})
    record = SyncRun(
        integration_id=fuzz_integration.id, device_id=fuzz_integration.device_id, full=True
    )
    db.session.add(record)
    db.session.commit()
    env = SyncEnvironment(
        box=SecretBox(current_app.config["ENCRYPTION_KEY"]),
        allow_private=True,
        progress_interval=0,
        client_options={"max_retries": 0},
    )
    with requests_mock.Mocker() as mocker:
        sis.install(mocker)
        run = run_sync(record.id, env)
    assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL, SyncStatus.FAILED)
    if run.status is not SyncStatus.SUCCEEDED:
        assert run.error_code and run.error_message
    # SY100 is the engine's "unexpected error" (a crash); SY120 a database refusal.
    assert run.error_code not in ("SY100", "SY120"), run.error_message
    for url in (
        "/sis-integration/",
        f"/sis-integration/{fuzz_integration.id}/runs/{run.id}/status",
        f"/sis-integration/{fuzz_integration.id}/unmatched",
        f"/sis-integration/{fuzz_integration.id}/log",
        "/directory/classrooms",
    ):
        response = auth_client.get(url)
        assert response.status_code == 200, url
        assert "<script>alert(1)</script>" not in response.get_data(as_text=True)


HOSTILE = [
    "<script>alert(1)</script>",
    "nul\x00in the middle",
    "\ud800 lone",
    "y" * 20000,
    "ctl\x01\x1b[0m\x7f\u0085",
    "\u202eRTL",
    "  spaced  ",
    "😀 emoji",
]


def test_hostile_text_in_every_field_syncs_with_storable_rows(fuzz_integration, auth_client):
    """Odd but well-formed records are data, not errors: the sync succeeds and stores text
    every database accepts (no NUL, no lone surrogate, cut to the column)."""

    def hostile(base: dict, n: int, fields: tuple) -> dict:
        return {**base, **{f: f"{HOSTILE[(n + i) % len(HOSTILE)]}" for i, f in enumerate(fields)}}

    school = hostile(SCHOOL, 3, ("name", "identifier"))
    users = [hostile(u, n, ("givenName", "familyName", "phone")) for n, u in enumerate(USERS)]
    users[4]["email"] = HOSTILE[2] + "@sis.example"  # an unmatched user with odd everything
    classes = [hostile(c, n, ("title", "classCode")) for n, c in enumerate(CLASSES)]
    sis = FakeSIS(
        {"orgs": [school], "users": users, "classes": classes, "enrollments": ENROLLMENTS}
    )
    record = SyncRun(integration_id=fuzz_integration.id, device_id=fuzz_integration.device_id)
    db.session.add(record)
    db.session.commit()
    env = SyncEnvironment(box=SecretBox(current_app.config["ENCRYPTION_KEY"]), allow_private=True)
    with requests_mock.Mocker() as mocker:
        sis.install(mocker)
        run = run_sync(record.id, env)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert run.imported_classes == 2 and run.matched_students == 3 and run.unmatched_users == 1

    stored = [
        *db.session.scalars(select(SisOrg.name)),
        *db.session.scalars(select(SisUser.given_name)),
        *db.session.scalars(select(SisUser.family_name)),
        *db.session.scalars(select(Classroom.name)),
        *db.session.scalars(select(Classroom.school_name)),
        *db.session.scalars(select(UnmatchedUser.name)),
    ]
    assert stored
    for value in stored:
        assert "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
        assert len(value) <= 511
    for url in (
        "/sis-integration/",
        f"/sis-integration/{fuzz_integration.id}/unmatched",
        f"/sis-integration/{fuzz_integration.id}/log",
        f"/sis-integration/{fuzz_integration.id}/exclude-schools",
        "/directory/classrooms",
    ):
        html = auth_client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html, url
