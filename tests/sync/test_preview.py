"""Preview and the safety threshold as a decision (docs/sync-rules.md rules 9 and 12):
a preview changes no stored row anywhere; a blocked run is BLOCKED with the changes it
refused; the admin allows them once; a new large removal is blocked again."""

import hashlib

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import SyncChange, SyncRun, SyncStatus, SyncTrigger
from sisapp.services.change_sets import allow_removals_once, last_good_run, latest_preview
from sisapp.services.sync_runs import active_run, latest_run
from sisapp.sync import SyncEnvironment, run_sync
from tests.helpers.sync_district import TODAY

RUN_TABLES = {"sync_run", "sync_log_line", "sync_change"}


def table_hashes(except_run: int | None = None, runs: bool = True) -> dict:
    """A hash of every row of every table (the run tables without ``except_run``'s rows,
    or without the run tables when not ``runs``)."""
    db.session.rollback()
    result = {}
    for table in db.metadata.sorted_tables:
        if not runs and table.name in RUN_TABLES:
            continue
        query = select(table)
        if table.name == "sync_run" and except_run is not None:
            query = query.where(table.c.id != except_run)
        elif table.name in RUN_TABLES and except_run is not None:
            query = query.where(table.c.run_id != except_run)
        rows = sorted((tuple(row) for row in db.session.execute(query)), key=repr)
        result[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return result


def preview(integration, box, full=False, **env):
    record = SyncRun(integration_id=integration.id, device_id=integration.device_id,
                     trigger=SyncTrigger.PREVIEW, full=full)  # fmt: skip
    db.session.add(record)
    db.session.commit()
    settings = {"box": box, "allow_private": True, "today": TODAY, "page_size": 100, **env}
    return run_sync(record.id, SyncEnvironment(**settings))


def _drop_enrollments(district, school):
    with district.lock:
        district.enrollments[:] = [e for e in district.enrollments if e["school"]["sourcedId"] != school]  # fmt: skip
        district.touch()


def test_a_preview_changes_no_row_and_foretells_the_sync(make_integration, sync, district, box):
    integration = make_integration(sync_parents=True, relationship_type="parent")
    first = sync(integration)
    district.apply_changes(0.05)
    last_sync = integration.last_sync_at
    record = SyncRun(integration_id=integration.id, device_id=integration.device_id,
                     trigger=SyncTrigger.PREVIEW)  # fmt: skip
    db.session.add(record)
    db.session.commit()
    before = table_hashes(except_run=record.id)
    run = run_sync(record.id, SyncEnvironment(box=box, allow_private=True, today=TODAY))
    assert run.status is SyncStatus.PREVIEW, run.error_message
    assert table_hashes(except_run=record.id) == before
    db.session.refresh(integration)
    assert integration.last_sync_at == last_sync
    assert latest_run(integration).id == first.id and latest_preview(integration).id == run.id
    assert last_good_run(integration).id == first.id
    assert sum(n for c in run.changes.values() for n in c.values()) > 10
    assert run.matched_students and db.session.scalar(select(SyncChange.id).where(SyncChange.run_id == run.id))  # fmt: skip

    applied = sync(integration)
    assert applied.status is SyncStatus.SUCCEEDED
    assert applied.changes == run.changes
    for key in ("unmatched_users", "matched_students", "matched_teachers", "imported_classes", "parents"):  # fmt: skip
        assert getattr(applied, key) == getattr(run, key), key


def test_a_preview_runs_beside_a_queued_sync(make_integration, sync, box):
    integration = make_integration()
    sync(integration)
    queued = SyncRun(integration_id=integration.id, device_id=integration.device_id)
    db.session.add(queued)
    db.session.commit()
    run = preview(integration, box)
    assert run.status is SyncStatus.PREVIEW
    assert active_run(integration).id == queued.id and active_run(integration, preview=True) is None


def test_blocked_then_allowed_once_then_blocked_again(make_integration, sync, district, box):
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    _drop_enrollments(district, district.schools[0]["sourcedId"])
    before = table_hashes(runs=False)

    would = preview(integration, box, full=True)
    assert would.status is SyncStatus.BLOCKED and would.error_code == "SY200"
    assert would.trigger is SyncTrigger.PREVIEW
    blocked = sync(integration, full=True)
    assert blocked.status is SyncStatus.BLOCKED and blocked.error_code == "SY200"
    assert table_hashes(runs=False) == before
    assert blocked.changes == would.changes and blocked.changes["memberships"]["removed"] >= 10
    refused = db.session.scalars(select(SyncChange.reason).where(
        SyncChange.run_id == blocked.id, SyncChange.kind == "memberships", SyncChange.change == "removed")).all()  # fmt: skip
    assert len(refused) == blocked.changes["memberships"]["removed"]
    assert set(refused) == {"enrollment gone from the SIS"}
    assert blocked.matched_students is None  # a blocked run has no Sync Details of its own

    db.session.refresh(integration)
    allowed, created = allow_removals_once(integration)
    assert created and allowed.status is SyncStatus.QUEUED
    db.session.delete(allowed)  # run in the foreground here, not through the queue
    db.session.commit()
    passed = sync(integration, full=True)
    assert passed.status is SyncStatus.SUCCEEDED, passed.error_message
    assert passed.changes == blocked.changes
    db.session.refresh(integration)
    assert not integration.allow_large_removals

    _drop_enrollments(district, district.schools[1]["sourcedId"])
    again = sync(integration, full=True)
    assert again.status is SyncStatus.BLOCKED and again.error_code == "SY200"
    assert last_good_run(integration).id == passed.id
