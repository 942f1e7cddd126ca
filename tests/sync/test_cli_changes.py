# ruff: noqa: F811 - the CLI fixtures of test_cli are imported, then requested by name
"""The command-line contract of issue 16: ``changes`` in the JSON, ``blocked`` and
``preview`` statuses and their exit codes, ``--allow-large-removals``, ``integration edit``."""

import json

from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import Classroom, ClassroomMember, OneRosterIntegration
from tests.sync.test_cli import KEYS, _add, _sync, app_config, cli, uk_district, uk_sis  # noqa: F401

CHANGE_KEYS = {"matched_users": {"added", "removed"}, "unmatched_users": {"added", "removed"},
               "classrooms": {"added", "removed", "renamed"}, "memberships": {"added", "removed"},
               "parents": {"added", "removed"}}  # fmt: skip


def _preview(cli, iid, *extra):
    result = cli("sync", "preview", str(iid), "--json", *extra)
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert set(payload) == KEYS
    return result.exit_code, payload


def _drop_enrollments(district, school):
    with district.lock:
        district.enrollments[:] = [e for e in district.enrollments if e["school"]["sourcedId"] != school]  # fmt: skip
        district.touch()


def test_blocked_allowed_once_blocked_again(cli, uk_sis, uk_district):
    iid = _add(cli, uk_sis)
    code, first = _sync(cli, iid)
    assert code == 0 and first["status"] == "succeeded"
    assert {k: set(v) for k, v in first["changes"].items()} == CHANGE_KEYS
    assert first["changes"]["classrooms"]["added"] == first["imported_classes"]

    code, quiet = _preview(cli, iid)
    assert code == 0 and quiet["status"] == "preview" and quiet["error_code"] is None
    assert quiet["matched_students"] == first["matched_students"]

    _drop_enrollments(uk_district, uk_district.schools[0]["sourcedId"])
    code, would = _preview(cli, iid, "--full")
    assert code == 1 and would["status"] == "blocked" and would["error_code"] == "SY200"
    code, blocked = _sync(cli, iid, "--full")
    assert code == 1 and blocked["status"] == "blocked" and blocked["error_code"] == "SY200"
    assert blocked["changes"] == would["changes"] and blocked["changes"]["memberships"]["removed"] >= 10  # fmt: skip
    code, allowed = _sync(cli, iid, "--full", "--allow-large-removals")
    assert code == 0 and allowed["status"] == "succeeded", allowed["message"]
    assert allowed["changes"] == blocked["changes"]
    assert not db.session.get(OneRosterIntegration, iid).allow_large_removals

    _drop_enrollments(uk_district, uk_district.schools[1]["sourcedId"])
    code, again = _sync(cli, iid, "--full")
    assert code == 1 and again["status"] == "blocked" and again["error_code"] == "SY200"
    text = cli("sync", "run", str(iid), "--full")
    assert text.exit_code == 1 and "Sync" in text.output and "blocked" in text.output
    assert "Changes, memberships: 0 added" in text.output


def test_edit_announces_and_the_sync_records_classes_off(cli, uk_sis, uk_district):
    iid = _add(cli, uk_sis)
    assert _sync(cli, iid)[0] == 0
    rooms = db.session.scalar(select(func.count()).where(Classroom.integration_id == iid))
    members = db.session.scalar(select(func.count()).select_from(ClassroomMember).join(Classroom).where(Classroom.integration_id == iid))  # fmt: skip
    result = cli("integration", "edit", str(iid), "--no-classes")
    assert result.exit_code == 0, result.output
    assert (
        f"The next sync will remove {rooms:,} classrooms and {members:,} memberships this "
        "integration created." in result.output
    )
    code, payload = _sync(cli, iid)
    assert code == 0 and payload["status"] == "succeeded", payload["message"]
    assert payload["changes"]["classrooms"] == {"added": 0, "removed": rooms, "renamed": 0}
    assert payload["changes"]["memberships"] == {"added": 0, "removed": members}

    school = uk_district.schools[0]["sourcedId"]
    result = cli("integration", "edit", str(iid), "--classes", "--exclude-school", school)
    assert result.exit_code == 0, result.output
    assert "The next sync will remove" in result.output  # the excluded school's users
    integration = db.session.get(OneRosterIntegration, iid)
    db.session.refresh(integration)
    assert integration.sync_classes and integration.excluded_school_ids == [school]
    result = cli("integration", "edit", str(iid), "--include-all-schools", "--name", "Renamed")
    assert result.exit_code == 0, result.output
    db.session.refresh(integration)
    assert integration.excluded_school_ids == [] and integration.name == "Renamed"
    bad = cli("integration", "edit", str(iid), "--exclude-school", "no-such-school")
    assert bad.exit_code != 0 and "Unknown school" in bad.output
