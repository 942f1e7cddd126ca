"""RQ entry points: take ids, open an app context on the worker's app, call a service.

Jobs take ids, never ORM objects: a job may run hours later on another machine, and the
database row (not the pickled job) is the record of a run. sisapp.queue names these
functions by dotted path; keep their names and arguments stable while jobs may be queued.
"""

import os
from datetime import datetime

from flask import Flask

from sisapp import create_app, scheduler
from sisapp.extensions import db
from sisapp.services import notifications
from sisapp.services.notification_mail import send_notification
from sisapp.services.sync_runs import execute_run

_worker_app: Flask | None = None


def set_worker_app(app: Flask) -> None:
    """Let jobs reuse the app of the `flask worker` process that forks them."""
    global _worker_app
    _worker_app = app


def worker_app() -> Flask:
    """The app for this worker process: created once (under `rq worker`) and cached."""
    global _worker_app
    if _worker_app is None:
        _worker_app = create_app()
    return _worker_app


_forked = False


def _after_fork() -> None:
    global _forked
    _forked = True


# RQ runs each job in a forked work-horse, which inherits the worker's connection pool.
os.register_at_fork(after_in_child=_after_fork)


def _in_app(fn, *args):
    global _forked
    app = worker_app()
    with app.app_context():
        if _forked:
            # The pool's connections are the parent's: drop them without closing them
            # (that would close the parent's sockets). Only after a fork: a job run in
            # the process that made the pool (SimpleWorker, a test's job.perform()) keeps
            # it, since discarding open connections would leave them to the GC.
            db.engine.dispose(close=False)
            _forked = False
        try:
            return fn(*args)
        finally:
            db.session.remove()


def run_sync_job(run_id: int) -> str:
    """Run one queued SyncRun to its end; returns its final status."""
    try:
        return _in_app(execute_run, run_id)
    finally:  # after the run's end is committed, whether the runner returned or raised
        _in_app(notifications.run_ended, run_id)


def dispatch_region_job(region: str, slot_iso: str) -> int:
    """A region's Tue/Fri 6 PM: plan its devices and start or schedule each."""
    return _in_app(scheduler.dispatch_region, region, datetime.fromisoformat(slot_iso))


def start_scheduled_sync_job(integration_id: int, slot_iso: str) -> int | None:
    """One device's planned start inside its region's window."""
    return _in_app(scheduler.start_scheduled_sync, integration_id, datetime.fromisoformat(slot_iso))


def send_sync_email_job(run_id: int, admin_id: int, outcome: str) -> bool:
    """Email one admin about a sync's end; a failure raises and RQ retries the job."""
    return _in_app(send_notification, run_id, admin_id, outcome)
