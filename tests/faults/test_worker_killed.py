"""A worker SIGKILLed in the middle of reading or of the apply transaction loses nothing.

The kill takes the worker and its work-horse together (their process groups): a power
cut. Stored data must equal the state before the run, the sweep must fail the run with
its code, and a re-run must succeed and equal a clean full sync of the same SIS.
"""

import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import SisEnrollment, SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.services import sync_runs
from tests.faults.hooks import state_json
from tests.helpers.faults import sweep, worker
from tests.helpers.processes import finish
from tests.helpers.sync_state import (
    detail_counts,
    expected,
    snapshot,
    staged_rows,
    stored_state,
    synced_data,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("point", ["read", "apply", "merged"])
def test_worker_killed_mid_run_loses_nothing_and_a_rerun_equals_a_full_sync(
    app, synced, district, sis, processes, queue_name, pause, new_integration, sync_now, point
):
    """``merged``: a full read on PostgreSQL killed after it merged a school's slice into
    the mirror (uncommitted) while later schools were still to be read."""
    if point == "merged" and db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite merges nothing while reading")
    integration = synced
    district.apply_changes(0.1)  # the killed run has real changes to apply
    before = stored_state(integration.id)
    app.config["SYNC_HEARTBEAT_TIMEOUT"] = 2

    run, created = sync_runs.request_sync(integration, full=point == "merged")
    assert created
    held = pause(point)
    proc = worker(processes, queue_name, **held.env())
    marker = held.wait(proc)
    if point == "apply":
        # The transaction really holds the new state, uncommitted: the kill interrupts it.
        assert marker["state"] != state_json(snapshot(integration.id))
    elif point == "merged":
        committed = db.session.scalar(select(func.max(SisEnrollment.id)))
        assert marker["max_enrollment_id"] > committed  # rows merged, not committed
    else:
        assert marker["records_read"] > 0  # users and classes are staged by now
    assert stored_state(integration.id) == before  # nothing visible to anyone yet

    processes.kill(proc)  # the worker and its work-horse, by process group
    assert proc.returncode == -signal.SIGKILL
    assert stored_state(integration.id) == before

    assert sweep() == []  # its heartbeat is still fresh: not judged yet
    later = utcnow() + timedelta(seconds=2.5)  # the worker is dead: nothing changes meanwhile
    assert [r.id for r in sweep(later)] == [run.id]
    db.session.refresh(run)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB301")
    assert run.finished_at is not None
    assert stored_state(integration.id) == before
    # Its staging died with its connection (temporary tables): nothing to clean up.
    deadline = time.monotonic() + 10  # PostgreSQL ends the dead client's backend soon
    while staged_rows() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert staged_rows() == 0

    app.config["SYNC_HEARTBEAT_TIMEOUT"] = 240
    again, created = sync_runs.request_sync(integration)
    assert created
    finish(worker(processes, queue_name), timeout=120)
    again = db.session.get(SyncRun, again.id)
    db.session.refresh(again)
    assert again.status is SyncStatus.SUCCEEDED, (again.error_code, again.error_message)
    assert detail_counts(again) == expected(district)
    assert staged_rows() == 0
    after = stored_state(integration.id)
    assert after["integration"][0] > before["integration"][0]  # last_sync_at moved on

    clean = new_integration("Clean full sync")
    clean_run = sync_now(clean)
    assert clean_run.status is SyncStatus.SUCCEEDED
    assert synced_data(integration.id) == synced_data(clean.id)


def test_the_sweep_spares_a_live_worker_silent_in_a_long_apply(
    app, synced, district, processes, queue_name, pause
):
    """A big district's apply holds SQLite's write lock for minutes (no heartbeat can be
    written) and a read may wait out long Retry-Afters: a live worker is not dead."""
    integration = synced
    district.apply_changes(0.1)
    app.config["SYNC_HEARTBEAT_TIMEOUT"] = 2  # the worker gets it too
    run, _ = sync_runs.request_sync(integration)
    held = pause("apply")
    proc = worker(processes, queue_name, **held.env())
    held.wait(proc)
    # Real time, longer than the heartbeat timeout: the live horse's alive stamps must keep up.
    time.sleep(3)
    assert sweep() == []
    held.release()
    finish(proc, timeout=60)
    run = db.session.get(SyncRun, run.id)
    db.session.refresh(run)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)
