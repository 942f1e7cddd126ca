"""Failed, partial, cancelled and blocked syncs leave stored data exactly as it was."""

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.sync import allow_large_removals
from tests.helpers.sync_state import counts, leftover_stage_tables, snapshot


def _first_sync(make_integration, sync, **options):
    integration = make_integration(**options)
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    return integration, run


def _no_staging_left():
    assert leftover_stage_tables() == 0


def test_bad_credentials_fail_and_change_nothing(make_integration, sync, box, district):
    integration, first = _first_sync(make_integration, sync)
    district.apply_changes(0.05)
    before, last_sync = snapshot(integration.id), integration.last_sync_at
    integration.client_secret_encrypted = box.encrypt("wrong-secret")
    db.session.commit()
    run = sync(integration)
    assert run.status is SyncStatus.FAILED
    assert run.error_code == "OR120" and "wrong-secret" not in (run.error_message or "")
    assert run.finished_at and counts(run) == dict.fromkeys(counts(run))
    db.session.refresh(integration)
    assert snapshot(integration.id) == before and integration.last_sync_at == last_sync
    _no_staging_left()


def test_malformed_page_deep_in_enrollments_fails(make_integration, sync, sis, district):
    integration, _ = _first_sync(
        make_integration, sync, sync_parents=True, relationship_type="parent"
    )
    district.apply_changes(0.05)
    before, last_sync = snapshot(integration.id), integration.last_sync_at
    sis.faults.malformed_at = ("enrollments", 500)
    run = sync(integration, full=True)
    assert run.status is SyncStatus.FAILED and run.error_code == "OR150", run.error_message
    db.session.refresh(integration)
    assert snapshot(integration.id) == before and integration.last_sync_at == last_sync
    _no_staging_left()
    sis.faults.malformed_at = None
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED
    assert counts(run) == district.expected_counts(parents="parent")


def test_broken_school_makes_a_partial_sync(make_integration, sync, sis, district):
    integration, _ = _first_sync(make_integration, sync)
    broken = district.schools[1]
    before = snapshot(integration.id)
    district.apply_changes(0.05)
    sis.faults.broken_school = broken["sourcedId"]
    run = sync(integration, full=True)
    assert run.status is SyncStatus.PARTIAL and run.error_code == "OR160"
    assert broken["name"] in run.error_message and "exclude" in run.error_message
    assert run.error_message.startswith("1 school could not be read: ")
    after = snapshot(integration.id)

    def school_rows(snap, table, column):
        return [row for row in snap[table] if row[column] == broken["sourcedId"]]

    for table, column in (("sis_class", 1), ("sis_enrollment", 1), ("classroom", 3)):
        assert school_rows(after, table, column) == school_rows(before, table, column), table
        assert school_rows(after, table, column)
    assert after["sis_user"] != before["sis_user"]  # the changes of the others were applied
    sis.faults.broken_school = None
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED
    assert counts(run) == district.expected_counts()


def test_large_removal_is_blocked_until_allowed(make_integration, sync, district):
    integration, first = _first_sync(make_integration, sync)
    before, last_sync = snapshot(integration.id), integration.last_sync_at
    gone = district.schools[0]["sourcedId"]
    with district.lock:  # a bad pull: the first school's enrollments vanish
        district.enrollments[:] = [e for e in district.enrollments if e["school"]["sourcedId"] != gone]  # fmt: skip
        district.touch()
    run = sync(integration, full=True)
    assert run.status is SyncStatus.BLOCKED and run.error_code == "SY200"
    assert "Allow large removals" in run.error_message and "memberships" in run.error_message
    db.session.refresh(integration)
    assert snapshot(integration.id) == before and integration.last_sync_at == last_sync
    _no_staging_left()
    allow_large_removals(integration)
    run = sync(integration, full=True)
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    db.session.refresh(integration)
    assert not integration.allow_large_removals
    assert counts(run) == district.expected_counts()


def test_cancel_changes_nothing(make_integration, sync, district, box):
    integration, _ = _first_sync(make_integration, sync)
    district.apply_changes(0.05)
    before = snapshot(integration.id)
    record = SyncRun(integration_id=integration.id, device_id=integration.device_id, cancel_requested=True)  # fmt: skip
    db.session.add(record)
    db.session.commit()
    from sisapp.sync import SyncEnvironment, run_sync
    from tests.helpers.sync_district import TODAY

    run = run_sync(record.id, SyncEnvironment(box=box, allow_private=True, today=TODAY))
    assert run.status is SyncStatus.CANCELLED and run.error_code == "OR170"
    assert snapshot(integration.id) == before
    _no_staging_left()


def test_unexpected_error_is_recorded(make_integration, sync, monkeypatch, caplog):
    integration, _ = _first_sync(make_integration, sync)
    before = snapshot(integration.id)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("sisapp.sync.engine.recompute", boom)
    run = sync(integration, full=True)
    assert run.status is SyncStatus.FAILED and run.error_code == "SY100"
    assert "boom" in caplog.text and snapshot(integration.id) == before
    _no_staging_left()


def test_run_that_is_not_queued_is_left_alone(make_integration, sync):
    integration, run = _first_sync(make_integration, sync)
    from sisapp.sync import run_sync

    again = run_sync(run.id, None)
    assert again.status is SyncStatus.SUCCEEDED and again.id == run.id
