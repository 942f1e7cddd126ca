"""A work-horse that outlives its worker, a run ended behind a worker's back, and a
database outage longer than a few seconds: each run ends once, with the right code, and
never applies data after it was ended.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid

import pytest
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.services import sync_runs
from tests.helpers.faults import request_changed_sync, sweep
from tests.helpers.processes import output, wait_for
from tests.helpers.sync_state import detail_counts, expected, stored_state

pytestmark = pytest.mark.slow


def _ended(run_id: int) -> SyncRun | None:
    run = db.session.get(SyncRun, run_id)
    db.session.refresh(run)
    return run if not run.status.is_active else None


def test_a_work_horse_orphaned_by_its_killed_worker_keeps_its_run_and_finishes_it(
    app, synced, district, processes, queue_name, pause
):
    integration = synced
    district.apply_changes(0.1)
    run, _ = sync_runs.request_sync(integration)
    held = pause("read")
    proc = held.start_worker(processes, queue_name, burst=False)

    os.kill(proc.pid, signal.SIGKILL)  # the main process only (supervisord's default)
    proc.wait(10)
    # RQ's clean-up, as the next worker start or a later sweep runs it, finds the job's
    # worker gone and fails the job as abandoned.
    StartedJobRegistry(queue_name, connection=queue.redis_connection()).cleanup(
        time.time() + 100_000
    )
    job = Job.fetch(run.job_id, connection=queue.redis_connection())
    assert job.get_status() == JobStatus.FAILED

    assert sweep() == []  # its work-horse still stamps: the run is not failed under it
    again, created = sync_runs.request_sync(integration)
    assert not created and again.id == run.id  # no second run beside the orphan

    held.release()
    run = wait_for(lambda: _ended(run.id), timeout=90)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)
    assert sweep() == []


def test_a_run_ended_elsewhere_rolls_its_work_back_instead_of_committing(
    app, synced, district, processes, queue_name, pause
):
    integration = synced
    before, run = request_changed_sync(integration, district)
    held = pause("read")
    proc = held.start_worker(processes, queue_name)

    # The sweep (or a forced cancel) ends the run while its horse is still at work.
    message = "The worker running the sync stopped unexpectedly."
    assert sync_runs.finish_run(run.id, SyncStatus.FAILED, "JB301", message)
    held.release()
    proc.wait(90)

    run = _ended(run.id)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB301")  # not flipped
    assert stored_state(integration.id) == before  # its apply rolled back
    assert "ended elsewhere" in output(proc)


def _hold_database(app, name: str, seconds: float) -> None:
    """The database unreachable for the worker for `seconds`: SQLite's write lock held by
    another process; PostgreSQL's worker backends terminated over and over."""
    deadline = time.monotonic() + seconds
    if db.engine.dialect.name == "sqlite":
        path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
        lock = sqlite3.connect(path, isolation_level=None, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        lock.execute("ROLLBACK")
        lock.close()
        return
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            )
            conn.commit()
            time.sleep(0.05)


def test_a_database_outage_longer_than_a_few_seconds_ends_the_run_sy120(
    app, synced, district, processes, queue_name, pause
):
    integration = synced
    before, run = request_changed_sync(integration, district)
    held = pause("read")
    name = f"sisapp-fault-{uuid.uuid4().hex[:8]}"
    proc = held.start_worker(
        processes, queue_name, FAULT_SQLITE_BUSY_MS=300, FAULT_APPLICATION_NAME=name
    )
    held.release()
    _hold_database(app, name, seconds=10)

    run = wait_for(lambda: _ended(run.id), timeout=90)
    proc.wait(60)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "SY120"), run.error_message
    assert stored_state(integration.id) == before
    assert sweep() == []
