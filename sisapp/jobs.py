"""RQ entry points and the queue they travel on.

Jobs take ids, never ORM objects: a job may run hours later on another machine, and the
database row (not the pickled job) is the record of a run. Each job opens an app context
on an app created once per worker process, then calls a service. Every enqueue names an
explicit timeout: RQ's default (180 s) would kill a four-hour sync.
"""

import logging
import re
import uuid
from datetime import datetime

from flask import Flask, current_app
from redis import Redis
from rq import Queue

log = logging.getLogger(__name__)

# Defaults for the settings this module and the schedule read; instance/config.py and
# SISAPP_* environment variables override them.

_worker_app: Flask | None = None
_connections: dict[str, Redis] = {}


def setting(name: str, app: Flask | None = None):
    """A jobs setting; the defaults are in sisapp/config.py."""
    return (app or current_app).config[name]


def redis_connection(app: Flask | None = None) -> Redis:
    url = (app or current_app).config.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if url not in _connections:
        _connections[url] = Redis.from_url(url)
    return _connections[url]


def queue_name(app: Flask | None = None) -> str:
    return (app or current_app).config.get("RQ_QUEUE") or "sisapp-sync"


def get_queue(app: Flask | None = None) -> Queue:
    return Queue(queue_name(app), connection=redis_connection(app))


def job_id(*parts) -> str:
    """A deterministic RQ job id (RQ allows letters, digits, `_` and `-` only)."""
    raw = "-".join(str(p) for p in ("sisapp", queue_name(), *parts))
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)


def slot_stamp(slot: datetime) -> str:
    return slot.strftime("%Y%m%dT%H%MZ")


def new_sync_job_id(run_id: int) -> str:
    """Unique even if a rebuilt database hands out the same run id again."""
    return job_id("run", run_id, uuid.uuid4().hex[:8])


def alive_key(run_id: int) -> str:
    """The Redis key a running sync's work-horse stamps while it lives (see sync_runs)."""
    return job_id("alive", run_id)


def enqueue_sync(run_id: int, job_id_: str | None = None) -> str:
    """Put run `run_id` on the queue; returns the job id (also stored on the run)."""
    job = get_queue().enqueue(
        run_sync_job,
        run_id,
        job_id=job_id_ or new_sync_job_id(run_id),
        job_timeout=int(setting("SYNC_JOB_TIMEOUT")),
        result_ttl=int(setting("SYNC_RESULT_TTL")),
        failure_ttl=int(setting("SYNC_FAILURE_TTL")),
        description=f"sync run {run_id}",
    )
    return job.id


# -- entry points ----------------------------------------------------------------------


def set_worker_app(app: Flask) -> None:
    """Let jobs reuse the app of the `flask worker` process that forks them."""
    global _worker_app
    _worker_app = app


def worker_app() -> Flask:
    """The app for this worker process: created once (under `rq worker`) and cached."""
    global _worker_app
    if _worker_app is None:
        from sisapp import create_app

        _worker_app = create_app()
    return _worker_app


def _in_app(fn, *args):
    from sisapp.extensions import db

    app = worker_app()
    with app.app_context():
        # The work-horse is a fork: never reuse the parent's pooled connections.
        db.engine.dispose(close=False)
        try:
            return fn(*args)
        finally:
            db.session.remove()


def run_sync_job(run_id: int) -> str:
    """Run one queued SyncRun to its end; returns its final status."""
    from sisapp.services.sync_runs import execute_run

    return _in_app(execute_run, run_id)


def dispatch_region_job(region: str, slot_iso: str) -> int:
    """A region's Tue/Fri 6 PM: plan its devices and start or schedule each."""
    from sisapp.schedule.scheduler import dispatch_region

    return _in_app(dispatch_region, region, datetime.fromisoformat(slot_iso))


def start_scheduled_sync_job(integration_id: int, slot_iso: str) -> int | None:
    """One device's planned start inside its region's window."""
    from sisapp.schedule.scheduler import start_scheduled_sync

    return _in_app(start_scheduled_sync, integration_id, datetime.fromisoformat(slot_iso))
