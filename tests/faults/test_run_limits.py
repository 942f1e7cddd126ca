"""What a run tells and where it stops: a school the SIS sends without classes, a run past
its deadline, and a lying total logged as a warning."""

from __future__ import annotations

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncStatus
from tests.helpers.sync_state import log_lines, stored_state


def test_a_school_with_users_but_no_classes_is_warned_in_the_log(integration, district, sync_now):
    school = district.schools[0]
    sid = school["sourcedId"]
    district.classes[:] = [c for c in district.classes if c["school"]["sourcedId"] != sid]
    district.enrollments[:] = [e for e in district.enrollments if e["school"]["sourcedId"] != sid]
    district.touch()

    run = sync_now(integration)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    warned = [line for line in log_lines(run.id) if f"({sid}) has" in line]
    assert len(warned) == 1 and "sent no classes" in warned[0]
    others = [s["sourcedId"] for s in district.schools[1:]]
    assert not any(f"({other}) has" in line for line in log_lines(run.id) for other in others)
    level = db.session.scalar(
        select(SyncLogLine.level).where(
            SyncLogLine.run_id == run.id, SyncLogLine.message == warned[0]
        )
    )
    assert level == "warning"


def test_a_run_past_its_deadline_ends_sy130_and_changes_nothing(synced, district, sync_now):
    district.apply_changes(0.1)
    before = stored_state(synced.id)
    run = sync_now(synced, run_deadline=0.0)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "SY130"), run.error_message
    assert "time allowed" in run.error_message
    assert stored_state(synced.id) == before


def test_a_lying_total_is_a_warning_in_the_run_log(integration, sis, sync_now):
    sis.faults.lying_total = "negative"
    run = sync_now(integration)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    levels = db.session.execute(
        select(SyncLogLine.level, SyncLogLine.message).where(SyncLogLine.run_id == run.id)
    ).all()
    assert any(level == "warning" and "total" in message.lower() for level, message in levels)
