"""The sweep: end runs whose worker is gone, so no page shows "running" forever.

A worker killed mid-sync (power cut, SIGKILL, OOM) cannot end its own run. The sweep runs
every SWEEP_INTERVAL from the scheduler and once at each worker start. It looks at every
queued or running run and ends as failed, with its own code, those that cannot finish:

- a queued run whose job is missing from Redis or already over (JB303);
- a running run whose job failed, was stopped or abandoned in RQ (JB301; JB305 when RQ
  killed it for running past SYNC_JOB_TIMEOUT);
- never a running run whose work-horse's alive stamp is fresh: RQ may have lost its
  worker (its main process killed alone) or the database may be briefly unreachable,
  but the work goes on and ends the run itself;
- a running run silent for longer than SYNC_HEARTBEAT_TIMEOUT (JB301): neither its
  heartbeat_at (written with progress) nor its work-horse's alive stamp in Redis (written
  by a thread, because an apply holding SQLite's write lock cannot write the row) is
  recent. A work-horse that is somehow still alive is sent RQ's stop-job command first,
  so it cannot write after the run is ended;
- a running run whose cancel went unanswered for SYNC_CANCEL_GRACE: stopped and cancelled.

Each run it ends tells the device's admins as any failed run does (one email each), and
each sweep also queues the emails of troubled runs that ended without them (a JB302 run,
whose job and email could not be queued while Redis was down: `notifications.notify_unsent`).

Why failing and re-running is safe: the sync engine applies a run's changes in one
database transaction at the end, so a worker that died never left half-applied data (its
transaction rolled back with its connection), and the next run reads the SIS afresh from
the last successful sync. Ending a run frees the one-active-run index, so the next Sync
starts cleanly. Every end is a conditional update (only while the run is still active):
a sweep racing a worker that finishes at the same moment never overwrites its result.
"""

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.services import notifications
from sisapp.services.liveness import alive_at
from sisapp.services.sync_runs import (
    ACTIVE,
    JobErrorCode,
    finish_run,
    hard_stop,
    is_stuck,
)

log = logging.getLogger(__name__)

_OVER = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}

WORKER_LOST = (
    "The worker running this sync stopped unexpectedly (for example a restart or power "
    "cut). Nothing was half-applied; start the sync again."
)


def sweep_dead_runs(now: datetime | None = None) -> list[SyncRun]:
    """End dead runs; returns the runs it ended. Does nothing while Redis is unreachable."""
    now = now or utcnow()
    connection = queue.redis_connection()
    try:
        # Moves jobs whose worker vanished (registry entry expired) to "failed".
        StartedJobRegistry(queue.queue_name(), connection=connection).cleanup()
    except RedisError:
        log.warning("sweep skipped: Redis unreachable")
        return []
    ended = []
    runs = db.session.scalars(select(SyncRun).where(SyncRun.status.in_(ACTIVE))).all()
    for run in runs:
        try:
            job = _fetch(run.job_id, connection)
            alive = alive_at(run.id)
        except RedisError:
            log.warning("sweep stopped: Redis unreachable")
            break
        if _sweep_one(run, job, now, alive):
            log.warning("sweep ended run %s (%s)", run.id, run.error_code)
            ended.append(run)
    for run in ended:  # the admins hear of a dead run as of any failed one
        notifications.run_ended(run.id)
    notifications.notify_unsent(now)
    return ended


def _fetch(job_id: str | None, connection) -> Job | None:
    if not job_id:
        return None
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None


def _sweep_one(run: SyncRun, job: Job | None, now: datetime, alive: datetime | None) -> bool:
    status = job.get_status(refresh=False) if job is not None else None
    if run.status == SyncStatus.QUEUED:
        return _sweep_queued(run, job, status, now, alive)
    return _sweep_running(run, job, status, now, alive)


def _sweep_queued(
    run: SyncRun, job: Job | None, status: JobStatus | None, now: datetime, alive: datetime | None
) -> bool:
    grace = timedelta(seconds=int(current_app.config["SYNC_QUEUED_GRACE"]))
    if now - run.queued_at < grace:
        return False  # request_sync may still be putting it on the queue
    if status is None or status in _OVER:
        return _end(
            run,
            SyncStatus.FAILED,
            JobErrorCode.JOB_LOST,
            "The sync's job was lost from the queue before it started (Redis restarted or "
            "was cleared). Nothing was changed; start the sync again.",
        )
    if status == JobStatus.STARTED:
        # Picked up after a long wait but not yet marked running: time it from the pick-up.
        started = job.started_at
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        signs = [t for t in (started, alive) if t is not None]
        return _sweep_silent(run, now, since=max(signs) if signs else None)
    return False


def _sweep_running(
    run: SyncRun, job: Job | None, status: JobStatus | None, now: datetime, alive: datetime | None
) -> bool:
    if run.cancel_requested and is_stuck(run, now):
        return _end(
            run,
            SyncStatus.CANCELLED,
            JobErrorCode.FORCE_STOPPED,
            "Cancelled: the sync did not stop on request and was stopped by force; "
            "nothing was half-applied.",
            stop=True,
        )
    timeout = timedelta(seconds=int(current_app.config["SYNC_HEARTBEAT_TIMEOUT"]))
    abandoned = status == JobStatus.FAILED and "AbandonedJobError" in _failure(job)
    if (abandoned or status == JobStatus.STARTED) and alive and now - alive <= timeout:
        # Its work-horse still stamps: alive, even though RQ lost its worker (a main
        # process killed alone leaves the horse working) or the database is unreachable.
        # A horse that died is reported by its living worker (failed or stopped) instead.
        return False
    if status == JobStatus.FAILED:
        if "JobTimeoutException" in _failure(job):
            return _end(run, SyncStatus.FAILED, JobErrorCode.TIMED_OUT, _timed_out())
        return _end(run, SyncStatus.FAILED, JobErrorCode.WORKER_LOST, WORKER_LOST)
    if status in _OVER:
        return _end(run, SyncStatus.FAILED, JobErrorCode.WORKER_LOST, WORKER_LOST)
    limit = timedelta(seconds=int(current_app.config["SYNC_JOB_TIMEOUT"]) + 60)
    if run.started_at and now - run.started_at > limit:
        return _end(run, SyncStatus.FAILED, JobErrorCode.TIMED_OUT, _timed_out(), stop=True)
    return _sweep_silent(run, now, since=alive)


def _failure(job: Job) -> str:
    """The failure text RQ recorded for the job (its latest result's exception)."""
    result = job.latest_result()
    return (result.exc_string if result is not None else None) or ""


def _sweep_silent(run: SyncRun, now: datetime, since: datetime | None = None) -> bool:
    """A run that has not written a heartbeat for SYNC_HEARTBEAT_TIMEOUT is dead."""
    timeout = timedelta(seconds=int(current_app.config["SYNC_HEARTBEAT_TIMEOUT"]))
    last_sign = max(
        t for t in (run.heartbeat_at, run.started_at, run.queued_at, since) if t is not None
    )
    if now - last_sign <= timeout:
        return False
    return _end(run, SyncStatus.FAILED, JobErrorCode.WORKER_LOST, WORKER_LOST, stop=True)


def _timed_out() -> str:
    hours = int(current_app.config["SYNC_JOB_TIMEOUT"]) / 3600
    return f"The sync ran longer than its time limit ({hours:g} h) and was stopped."


def _end(run: SyncRun, status: SyncStatus, code: str, message: str, *, stop=False) -> bool:
    """End the run (killing its work-horse first when `stop`); True if this call ended it."""
    ended = (hard_stop if stop else _finish)(run, status, code, message)
    db.session.refresh(run)
    return ended


def _finish(run: SyncRun, status: SyncStatus, code: str, message: str) -> bool:
    return finish_run(run.id, status, code, message)
