"""Syncs run in real RQ worker processes; one run per integration; Cancel; enqueue."""

import time

import pytest
from rq.job import Job
from sqlalchemy import func, select

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import DirectoryUser, SyncRun, SyncStatus, SyncTrigger, UserKind
from sisapp.services import sync_runs
from tests.helpers.integrations import make_integration
from tests.helpers.processes import finish, wait_for

pytestmark = pytest.mark.slow

SCRIPT = "tests/jobs/request_sync_script.py"


@pytest.fixture
def integration(device):
    return make_integration(device)


def add_users(device, n=3):
    for i in range(n):
        db.session.add(
            DirectoryUser(
                device_id=device.id,
                email=f"user{i}@northside.example",
                given_name="User",
                family_name=f"Number{i}",
                kind=UserKind.STUDENT,
                source="csv",
            )
        )
    db.session.commit()


def family_names():
    db.session.rollback()
    return sorted(db.session.scalars(select(DirectoryUser.family_name)))


def test_manual_sync_runs_in_a_worker_and_ends_with_its_result(
    app, integration, device, processes, redis_conn
):
    add_users(device)
    run, created = sync_runs.request_sync(integration)
    assert created and run.status == SyncStatus.QUEUED and run.trigger == SyncTrigger.MANUAL
    job = Job.fetch(run.job_id, connection=redis_conn)
    assert job.timeout == 6 * 3600  # explicit: RQ's default would kill it at 180 s
    assert job.result_ttl and job.failure_ttl
    assert job.args == (run.id,)

    finish(processes.worker())

    db.session.refresh(run)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.details()["matched_students"] == 3
    assert run.progress_done == run.progress_total == 3
    assert run.started_at and run.finished_at and run.heartbeat_at
    assert family_names() == ["Synced"] * 3
    assert sync_runs.latest_run(integration).id == run.id
    assert sync_runs.active_run(integration) is None
    assert sync_runs.get_run(device.id, run.id).id == run.id
    assert sync_runs.get_run(device.id + 1, run.id) is None


def test_a_second_request_answers_with_the_active_run(app, integration, redis_conn):
    first, created = sync_runs.request_sync(integration)
    second, created_again = sync_runs.request_sync(integration, SyncTrigger.CLI)
    assert created and not created_again
    assert second.id == first.id
    assert queue.get_queue().count == 1
    assert db.session.scalar(select(func.count(SyncRun.id))) == 1


def test_two_processes_requesting_at_once_make_one_run(app, integration, processes, redis_conn):
    for round_ in range(3):
        start_at = time.time() + 2.5  # both processes are imported and waiting by then
        procs = [processes.python(SCRIPT, str(integration.id), str(start_at)) for _ in range(3)]
        results = [p.communicate(timeout=60) for p in procs]
        for p, (_out, err) in zip(procs, results, strict=True):
            assert p.returncode == 0, err
        created = [out.split() for out, _err in results]
        assert sorted(c[1] for c in created) == ["False", "False", "True"], created
        assert len({c[0] for c in created}) == 1
        db.session.rollback()
        assert db.session.scalar(select(func.count(SyncRun.id))) == round_ + 1
        assert queue.get_queue().count == 1
        sync_runs.cancel_run(sync_runs.active_run(integration))
        assert queue.get_queue().count == 0


def test_cancel_of_a_queued_run_is_immediate_and_removes_its_job(app, integration, redis_conn):
    run, _ = sync_runs.request_sync(integration)
    assert queue.get_queue().count == 1
    sync_runs.cancel_run(run)
    assert run.status == SyncStatus.CANCELLED and run.cancel_requested
    assert run.finished_at is not None
    assert queue.get_queue().count == 0
    again, created = sync_runs.request_sync(integration)
    assert created and again.id != run.id


def test_cancel_stops_a_running_sync_between_pages_with_data_unchanged(
    app, integration, device, processes
):
    app.config.update(FAKE_SYNC_STEPS=200, FAKE_SYNC_STEP_SECONDS=0.05)
    add_users(device)
    run, _ = sync_runs.request_sync(integration)
    worker = processes.worker()
    wait_for(lambda: db.session.get(SyncRun, run.id).progress_done >= 2)
    sync_runs.cancel_run(db.session.get(SyncRun, run.id))
    finish(worker)
    db.session.refresh(run)
    assert run.status == SyncStatus.CANCELLED
    assert run.progress_done < 200
    assert family_names() == ["Number0", "Number1", "Number2"]


def test_cancel_ignored_past_the_grace_is_enforced_by_stopping_the_job(
    app, integration, device, processes
):
    app.config.update(FAKE_SYNC_MODE="hang", SYNC_CANCEL_GRACE=1)
    add_users(device)
    run, _ = sync_runs.request_sync(integration)
    worker = processes.worker()
    wait_for(lambda: db.session.get(SyncRun, run.id).status == SyncStatus.RUNNING)
    run = sync_runs.cancel_run(db.session.get(SyncRun, run.id))
    assert run.status == SyncStatus.RUNNING and run.cancel_requested
    time.sleep(1.2)  # past SYNC_CANCEL_GRACE: cancel_run reads the real clock
    run = sync_runs.cancel_run(run)  # pressed again after the grace: stopped the hard way
    assert run.status == SyncStatus.CANCELLED
    assert run.error_code == sync_runs.JobErrorCode.FORCE_STOPPED
    finish(worker, timeout=30)  # the work-horse was killed, so the burst worker ends
    assert family_names() == ["Number0", "Number1", "Number2"]
    _again, created = sync_runs.request_sync(integration)
    assert created


def test_a_crashing_sync_ends_failed_with_its_code(app, integration, processes):
    app.config["SYNC_RUNNER"] = "tests.jobs.fakes:crash"
    run, _ = sync_runs.request_sync(integration)
    finish(processes.worker())
    db.session.refresh(run)
    assert run.status == SyncStatus.FAILED
    assert run.error_code == "JB300"
    assert "RuntimeError" in run.error_message and "boom" not in run.error_message


def test_an_unreachable_queue_fails_the_run_with_its_code(app, integration):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    run, created = sync_runs.request_sync(integration)
    assert created
    assert run.status == SyncStatus.FAILED and run.error_code == "JB302"
    _again, created = sync_runs.request_sync(integration)
    assert created  # the failed run does not block the next one
