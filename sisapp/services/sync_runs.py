"""Sync runs: request, run, cancel and look up syncs of an integration.

The `SyncRun` row is the record of a run; Redis only carries the job. One run per
integration at a time is enforced by a partial unique index on the table, so two web
processes (or machines) pressing Sync at the same instant end up with exactly one run.
Used by the web views, the CLI, the RQ jobs and the scheduler; knows no request state.
"""

import logging
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import import_string

from sisapp import queue
from sisapp.extensions import db
from sisapp.logging_setup import run_log_context
from sisapp.models import OneRosterIntegration, SyncLogLine, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.oneroster.errors import CodeTable
from sisapp.schedule.planner import PlanSettings, next_planned_starts
from sisapp.services.liveness import keeping_alive

log = logging.getLogger(__name__)

ACTIVE = (SyncStatus.QUEUED, SyncStatus.RUNNING)


class JobErrorCode(CodeTable):
    """Runs ended by the job machinery rather than the sync itself: (code, meaning, action,
    operator note). The sync applies its changes in one transaction at the end, so none of
    these leaves data half-applied."""

    JOB_CRASHED = (
        "JB300",
        "The sync stopped on an unexpected problem inside School Manager; no synced data was "
        "changed.",
        "Start the sync again; if it happens again, contact Support with the error code and "
        "the time of the failure.",
        "An unexpected error in the job (a bug), or the job ended without recording a "
        "result; the traceback is in the worker log.",
    )
    WORKER_LOST = (
        "JB301",
        "The server running the sync stopped unexpectedly; no synced data was changed.",
        "Start the sync again; if it keeps happening, contact Support with the error code.",
        "The worker stopped (restart, power cut, out of memory): its job failed or was "
        'abandoned in RQ, or neither its progress heartbeat nor its "still alive" '
        "timestamp in Redis moved for SYNC_HEARTBEAT_TIMEOUT. Found by the periodic sweep. "
        "Check the worker machines' memory and logs.",
    )
    QUEUE_UNAVAILABLE = (
        "JB302",
        "The sync could not be started because a School Manager service was unavailable.",
        "Press Sync again in a few minutes; if it keeps happening, contact Support with the "
        "error code.",
        "Redis (REDIS_URL) was unreachable when Sync was pressed. Check that Redis is "
        "running and reachable from the web processes.",
    )
    JOB_LOST = (
        "JB303",
        "The waiting sync was lost before it started; no synced data was changed.",
        "Start the sync again; if it keeps happening, contact Support with the error code.",
        "The queued job disappeared from Redis before a worker started it (Redis restarted "
        "without persistence, or was cleared). Enable Redis persistence (AOF) so queued "
        "jobs survive a restart.",
    )
    FORCE_STOPPED = (
        "JB304",
        "The sync did not stop by itself after Cancel, so it was stopped; no synced data was "
        "changed.",
        "Nothing to do. If it happens often, ask the SIS administrator whether the SIS is "
        "slow to answer.",
        "The sync did not stop between pages within SYNC_CANCEL_GRACE, so its work-horse "
        "was killed (the run shows as cancelled). Frequent cases point at hanging SIS "
        "requests.",
    )
    TIMED_OUT = (
        "JB305",
        "The sync took longer than the time allowed and was stopped; no synced data was changed.",
        "Start the sync again outside school hours; if it keeps happening, contact Support "
        "with the error code.",
        "The job ran past SYNC_JOB_TIMEOUT (6 hours by default). Check the SIS's speed in "
        "the run log; raise SYNC_JOB_TIMEOUT for very large districts.",
    )


# -- look-ups -----------------------------------------------------------------------------


def get_run(device_id: int, run_id: int) -> SyncRun | None:
    """The run, or None when it belongs to another device (the caller answers 404)."""
    return db.session.scalar(
        select(SyncRun).where(SyncRun.id == run_id, SyncRun.device_id == device_id)
    )


def active_run(integration: OneRosterIntegration, *, preview: bool = False) -> SyncRun | None:
    """The integration's queued or running sync (``preview``: its preview instead; the
    two run side by side)."""
    kind = SyncRun.trigger == SyncTrigger.PREVIEW
    return db.session.scalar(
        select(SyncRun)
        .where(
            SyncRun.integration_id == integration.id,
            SyncRun.status.in_(ACTIVE),
            kind if preview else ~kind,
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


def latest_run(integration: OneRosterIntegration) -> SyncRun | None:
    """The newest sync attempt (previews are not syncs: ``change_sets.latest_preview``)."""
    return db.session.scalar(
        select(SyncRun)
        .where(SyncRun.integration_id == integration.id, SyncRun.trigger != SyncTrigger.PREVIEW)
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


def recent_runs(integration: OneRosterIntegration, limit: int = 20) -> list[SyncRun]:
    return list(
        db.session.scalars(
            select(SyncRun)
            .where(SyncRun.integration_id == integration.id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        )
    )


def next_scheduled_sync(
    integration: OneRosterIntegration, now: datetime | None = None
) -> datetime | None:
    """The UTC instant the planner gives this integration's next scheduled sync; a planned
    start that has passed without starting yet (the catch-up is about to) shows as now."""
    return next_scheduled_syncs([integration], now)[integration.id]


def next_scheduled_syncs(
    integrations: list[OneRosterIntegration], now: datetime | None = None
) -> dict[int, datetime | None]:
    """``next_scheduled_sync`` of each integration by id, the plan looked up once."""
    now = now or utcnow()
    settings = PlanSettings.from_config(current_app.config)
    starts = next_planned_starts(integrations, now, settings=settings)
    return {iid: max(planned, now) if planned else None for iid, planned in starts.items()}


# -- request -------------------------------------------------------------------------------


def request_sync(
    integration: OneRosterIntegration,
    trigger: SyncTrigger = SyncTrigger.MANUAL,
    *,
    full: bool = False,
    scheduled_for: datetime | None = None,
) -> tuple[SyncRun, bool]:
    """Queue a sync (or a preview: ``trigger`` PREVIEW); returns (run, True), or (the
    active run of that kind, False) when one exists."""
    preview = trigger is SyncTrigger.PREVIEW
    for _attempt in range(3):
        existing = active_run(integration, preview=preview)
        if existing is not None:
            return existing, False
        run = SyncRun(
            integration_id=integration.id,
            device_id=integration.device_id,
            trigger=trigger,
            status=SyncStatus.QUEUED,
            full=full,
            phase="queued",
            queued_at=utcnow(),
            scheduled_for=scheduled_for,
        )
        db.session.add(run)
        try:
            db.session.flush()
            run.job_id = queue.new_sync_job_id(run.id)
            db.session.commit()
        except IntegrityError:
            # Another process created the integration's run first: answer with that one.
            db.session.rollback()
            continue
        _enqueue(run)
        return run, True
    existing = active_run(integration, preview=preview)
    if existing is None:  # pragma: no cover - three lost races in a row
        raise RuntimeError("could not create a sync run")
    return existing, False


def _enqueue(run: SyncRun) -> None:
    try:
        queue.enqueue_sync(run.id, run.job_id)
    except RedisError:
        log.exception("could not queue sync run %s", run.id)
        finish_run(
            run.id,
            SyncStatus.FAILED,
            JobErrorCode.QUEUE_UNAVAILABLE,
            "The sync could not be queued: the job queue (Redis) is unreachable.",
        )
        db.session.refresh(run)


# -- run (inside the worker) ---------------------------------------------------------------


def execute_run(run_id: int) -> str | None:
    """Run a queued run to its end with the configured sync runner (called by the job).

    The runner (`run_sync(run_id, env)` of the sync engine) marks the run running, writes
    progress and heartbeats, honours cancel_requested between pages and ends the run. If
    it raises, or returns with the run still active, the run is failed here so that the
    page never shows "running" for a job that is over.
    """
    run = db.session.get(SyncRun, run_id)
    if run is None or not run.status.is_active:
        log.info("sync run %s is not active; nothing to do", run_id)
        return run.status.value if run else None
    if run.cancel_requested and run.status == SyncStatus.QUEUED:
        finish_run(run_id, SyncStatus.CANCELLED, message="Cancelled before it started.")
        return SyncStatus.CANCELLED.value
    runner = import_string(str(current_app.config["SYNC_RUNNER"]).replace(":", "."))
    try:
        tags = {"integration_id": run.integration_id, "device_id": run.device_id}
        with run_log_context(run_id=run_id, **tags), keeping_alive(run_id):
            runner(run_id, _environment())
    except JobTimeoutException:
        db.session.rollback()
        finish_run(run_id, SyncStatus.FAILED, JobErrorCode.TIMED_OUT, _timeout_message())
        raise
    except Exception as exc:
        db.session.rollback()
        log.exception("sync run %s crashed", run_id)
        finish_run(
            run_id,
            SyncStatus.FAILED,
            JobErrorCode.JOB_CRASHED,
            f"The sync stopped on an unexpected error ({type(exc).__name__}).",
        )
        raise
    db.session.rollback()
    run = db.session.get(SyncRun, run_id)
    if run is not None and run.status.is_active:
        finish_run(
            run_id, SyncStatus.FAILED, JobErrorCode.JOB_CRASHED, "The sync ended without a result."
        )
        db.session.refresh(run)
    return run.status.value if run else None


def _environment():
    """The sync engine's environment; SYNC_ENVIRONMENT="none" gives None (test runners)."""
    path = current_app.config["SYNC_ENVIRONMENT"]
    if str(path).lower() == "none":
        return None
    factory = import_string(str(path).replace(":", "."))
    return factory(current_app.config)


def _timeout_message() -> str:
    hours = int(current_app.config["SYNC_JOB_TIMEOUT"]) / 3600
    return f"The sync ran longer than its time limit ({hours:g} h) and was stopped."


# -- end and cancel ------------------------------------------------------------------------


def finish_run(
    run_id: int,
    status: SyncStatus,
    code: str | None = None,
    message: str | None = None,
) -> bool:
    """End a run that is still active; False if it had already ended (nothing changes).

    The update is conditional on the run being active, so a sweep, a cancel and the
    worker racing to end the same run never overwrite each other's result.
    """
    now = utcnow()
    values: dict = {"status": status, "finished_at": now, "phase": status.value}
    if code is not None:
        values["error_code"] = str(code)
    if message is not None:
        values["error_message"] = message
    result = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status.in_(ACTIVE))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    ended = result.rowcount == 1
    if ended and message:
        level = "info" if status == SyncStatus.CANCELLED and code is None else "error"
        db.session.add(SyncLogLine(run_id=run_id, at=now, level=level, message=message))
    db.session.commit()
    return ended


def cancel_run(run: SyncRun) -> SyncRun:
    """Ask a run to stop; a queued run is cancelled at once and its job removed.

    A running run stops between pages when the sync engine sees cancel_requested, and
    ends as cancelled with nothing half-applied. One that does not answer within
    SYNC_CANCEL_GRACE (or is past its time limit) is stopped the hard way with RQ's
    stop-job command; its open transaction dies with the work-horse, so the stored data
    stays as it was before the run.
    """
    if not run.status.is_active:
        return run
    now = utcnow()
    if not run.cancel_requested:
        run.cancel_requested = True
        run.cancel_requested_at = now
        db.session.commit()
    if run.status == SyncStatus.QUEUED:
        if finish_run(run.id, SyncStatus.CANCELLED, message="Cancelled before it started."):
            _remove_job(run.job_id)
    elif is_stuck(run, now):
        hard_stop(
            run,
            SyncStatus.CANCELLED,
            JobErrorCode.FORCE_STOPPED,
            "Cancelled: the sync did not stop on request and was stopped by force; "
            "nothing was half-applied.",
        )
    db.session.refresh(run)
    return run


def is_stuck(run: SyncRun, now: datetime) -> bool:
    """Past its time limit, or a cancel unanswered for longer than the grace period."""
    limit = timedelta(seconds=int(current_app.config["SYNC_JOB_TIMEOUT"]))
    grace = timedelta(seconds=int(current_app.config["SYNC_CANCEL_GRACE"]))
    if run.started_at and now - run.started_at > limit:
        return True
    return bool(
        run.cancel_requested and run.cancel_requested_at and now - run.cancel_requested_at > grace
    )


def hard_stop(run: SyncRun, status: SyncStatus, code: str, message: str) -> bool:
    """Kill the run's work-horse (if any) and end the run."""
    stop_job(run.job_id)
    return finish_run(run.id, status, code, message)


def stop_job(job_id: str | None) -> None:
    if not job_id:
        return
    try:
        send_stop_job_command(queue.redis_connection(), job_id)
    except (NoSuchJobError, InvalidJobOperation):
        pass  # not executing: nothing to kill
    except RedisError:
        log.warning("could not send stop-job for %s: Redis unreachable", job_id)


def _remove_job(job_id: str | None) -> None:
    if not job_id:
        return
    try:
        job = Job.fetch(job_id, connection=queue.redis_connection())
        job.delete(remove_from_queue=True)
    except NoSuchJobError:
        pass
    except RedisError:
        # The worker will find the run cancelled and do nothing.
        log.warning("could not remove job %s: Redis unreachable", job_id)
