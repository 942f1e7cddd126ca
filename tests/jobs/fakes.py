"""A controllable stand-in for the sync engine's `run_sync(run_id, env)`.

Workers load it through SISAPP_SYNC_RUNNER="tests.jobs.fakes:run_sync". Like the real
engine it marks the run running, writes progress and heartbeats, checks cancel_requested
between "pages", and applies its change (every directory user's family name becomes
"Synced") in one transaction at the end. FAKE_SYNC_MODE "hang" ignores cancel and never
ends (for the hard stop and the SIGKILL tests).
"""

import time

from flask import current_app
from sqlalchemy import update

from sisapp.extensions import db
from sisapp.models import DirectoryUser, SyncRun, SyncStatus
from sisapp.models.types import utcnow


def run_sync(run_id: int, env) -> None:
    config = current_app.config
    mode = config.get("FAKE_SYNC_MODE", "ok")
    steps = int(config.get("FAKE_SYNC_STEPS", 3))
    pause = float(config.get("FAKE_SYNC_STEP_SECONDS", 0.05))
    run = db.session.get(SyncRun, run_id)
    run.status = SyncStatus.RUNNING
    run.phase = "reading"
    run.started_at = run.heartbeat_at = utcnow()
    run.progress_total = steps
    db.session.commit()
    if mode == "hang":
        while True:
            time.sleep(0.2)
    for step in range(steps):
        time.sleep(pause)
        db.session.refresh(run)
        if run.cancel_requested:
            _end(run, SyncStatus.CANCELLED)
            return
        run.progress_done = step + 1
        run.records_read = 10 * (step + 1)
        run.heartbeat_at = utcnow()
        db.session.commit()
    db.session.execute(update(DirectoryUser).values(family_name="Synced"))
    run.matched_students = steps
    run.matched_teachers = 1
    run.unmatched_users = 0
    run.imported_classes = 2
    _end(run, SyncStatus.SUCCEEDED)


def _end(run: SyncRun, status: SyncStatus) -> None:
    run.status = status
    run.phase = status.value
    run.finished_at = utcnow()
    db.session.commit()


def crash(run_id: int, env) -> None:
    raise RuntimeError("boom")
