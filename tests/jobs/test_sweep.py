"""The sweep ends runs whose worker died, each with its own code; the next sync is clean."""

import signal
from datetime import timedelta

import pytest
from rq.job import Job, JobStatus

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.services import sync_runs
from sisapp.services.sync_sweep import sweep_dead_runs
from tests.helpers.integrations import make_integration
from tests.helpers.processes import finish, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def integration(device):
    return make_integration(device)


def test_sigkilled_worker_leaves_a_run_the_sweep_fails_with_its_code(app, integration, processes):
    app.config.update(FAKE_SYNC_MODE="hang", SYNC_HEARTBEAT_TIMEOUT=2)
    run, _ = sync_runs.request_sync(integration)
    worker = processes.worker()
    wait_for(lambda: db.session.get(SyncRun, run.id).status == SyncStatus.RUNNING)

    processes.kill(worker)  # the worker and its work-horse: a power cut
    assert worker.returncode == -signal.SIGKILL
    assert sweep_dead_runs() == []  # its heartbeat is still fresh
    db.session.refresh(run)
    assert run.status == SyncStatus.RUNNING

    later = utcnow() + timedelta(seconds=2.5)  # the worker is dead: nothing changes meanwhile
    assert [r.id for r in sweep_dead_runs(later)] == [run.id]
    assert run.status == SyncStatus.FAILED
    assert run.error_code == "JB301"
    assert "worker" in run.error_message
    assert sweep_dead_runs() == []  # ended once

    # The next sync starts cleanly and runs.
    app.config.update(FAKE_SYNC_MODE="ok", SYNC_HEARTBEAT_TIMEOUT=240)
    again, created = sync_runs.request_sync(integration)
    assert created
    finish(processes.worker())
    db.session.refresh(again)
    assert again.status == SyncStatus.SUCCEEDED


def test_killed_work_horse_is_seen_through_its_failed_job(app, integration, processes):
    """Only the horse dies: RQ ends the job at once, no heartbeat wait needed."""
    app.config.update(FAKE_SYNC_MODE="hang")
    run, _ = sync_runs.request_sync(integration)
    worker = processes.worker()
    wait_for(lambda: db.session.get(SyncRun, run.id).status == SyncStatus.RUNNING)
    sync_runs.stop_job(run.job_id)  # SIGKILLs the work-horse only
    finish(worker, timeout=30)
    job = Job.fetch(run.job_id, connection=queue.redis_connection())
    assert job.get_status() in (JobStatus.STOPPED, JobStatus.FAILED)
    assert [r.id for r in sweep_dead_runs()] == [run.id]
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB301")


def test_queued_run_whose_job_vanished_is_failed_after_a_grace(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    Job.fetch(run.job_id, connection=redis_conn).delete()  # Redis lost it
    assert sweep_dead_runs() == []  # may still be on its way to the queue
    later = utcnow() + timedelta(seconds=61)
    assert [r.id for r in sweep_dead_runs(later)] == [run.id]
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB303")


def test_a_queued_run_waiting_for_a_busy_worker_is_left_alone(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    assert sweep_dead_runs(utcnow() + timedelta(hours=3)) == []
    db.session.refresh(run)
    assert run.status == SyncStatus.QUEUED


def test_worker_start_sweeps_dead_runs(app, integration, processes):
    run, _ = sync_runs.request_sync(integration)
    Job.fetch(run.job_id, connection=queue.redis_connection()).delete()
    run.queued_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    out = finish(processes.worker())
    assert f"Ended dead run {run.id} (JB303)" in out
    db.session.refresh(run)
    assert run.status == SyncStatus.FAILED


def test_sweep_command(app, integration, processes):
    run, _ = sync_runs.request_sync(integration)
    Job.fetch(run.job_id, connection=queue.redis_connection()).delete()
    run.queued_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    out = finish(processes.flask("sweep"))
    assert f"Ended run {run.id}: failed JB303" in out


def test_a_sync_past_its_time_limit_is_stopped_by_rq_and_coded(app, integration, processes):
    app.config.update(FAKE_SYNC_MODE="hang", SYNC_JOB_TIMEOUT=2)
    run, _ = sync_runs.request_sync(integration)
    finish(processes.worker(), timeout=30)
    db.session.refresh(run)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB305")
    assert "time limit" in run.error_message


def _running(run, started_minutes_ago, heartbeat_minutes_ago):
    now = utcnow()
    run.status = SyncStatus.RUNNING
    run.started_at = now - timedelta(minutes=started_minutes_ago)
    run.heartbeat_at = now - timedelta(minutes=heartbeat_minutes_ago)
    db.session.commit()


def test_sweep_ends_a_run_alive_past_its_time_limit(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    _running(run, started_minutes_ago=7 * 60, heartbeat_minutes_ago=0)
    assert [r.id for r in sweep_dead_runs()] == [run.id]
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "JB305")


def test_sweep_enforces_an_unanswered_cancel(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    _running(run, started_minutes_ago=10, heartbeat_minutes_ago=0)
    sync_runs.cancel_run(run)
    assert run.status == SyncStatus.RUNNING  # asked politely first
    assert sweep_dead_runs() == []
    assert [r.id for r in sweep_dead_runs(utcnow() + timedelta(minutes=3))] == [run.id]
    assert (run.status, run.error_code) == (SyncStatus.CANCELLED, "JB304")


def test_sweep_judges_nothing_while_redis_is_unreachable(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    _running(run, started_minutes_ago=60, heartbeat_minutes_ago=30)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    assert sweep_dead_runs() == []
    db.session.refresh(run)
    assert run.status == SyncStatus.RUNNING
