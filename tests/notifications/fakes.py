"""A stand-in for the sync engine that ends a run as FAKE_SYNC_OUTCOME says.

Workers load it through SISAPP_SYNC_RUNNER="tests.notifications.fakes:run_sync".
"""

from flask import current_app

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.models.types import utcnow

# outcome -> (status, error code, message); "blocked" is how the engine ends SY200 today.
OUTCOMES = {
    "failed": (SyncStatus.FAILED, "OR110", "The SIS did not answer."),
    "partial": (SyncStatus.PARTIAL, "OR160", "School 'North' could not be read (OR110)."),
    "blocked": (SyncStatus.PARTIAL, "SY200", "Would remove 40% of matched users."),
    "succeeded": (SyncStatus.SUCCEEDED, None, None),
}


def run_sync(run_id: int, env) -> None:
    status, code, message = OUTCOMES[current_app.config.get("FAKE_SYNC_OUTCOME", "failed")]
    run = db.session.get(SyncRun, run_id)
    run.status = status
    run.phase = status.value
    run.started_at = run.heartbeat_at = utcnow()
    run.finished_at = utcnow()
    run.error_code = code
    run.error_message = message
    db.session.commit()
