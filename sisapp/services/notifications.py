"""Sync outcome emails: which ended runs tell the admins, who is told, and when.

A run that ends failed, partial or blocked by the safety threshold (SY200) tells its own
device's admins who have not switched notifications off; a run that succeeds after one
that did not (the integration's previous finished, non-cancelled run) tells them it is
back to normal. Cancelled runs tell nobody. The emails go out as RQ jobs, one per admin
with retries, queued after the run's end is committed: a mail server that is down never
fails or changes a sync. `SyncRun.notified_at` makes the queueing happen once per run.
"""

import enum
import logging
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import AdminUser, OneRosterIntegration, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow

log = logging.getLogger(__name__)

# The safety threshold's code (sisapp.sync.errors.SyncErrorCode.LARGE_REMOVAL): a run that
# carries it was blocked, whichever status it ended with.
BLOCKED_CODE = "SY200"
QUIET = ("queued", "running", "cancelled")


class Outcome(enum.StrEnum):
    FAILED = "failed"
    PARTIAL = "partial"
    BLOCKED = "blocked"
    RECOVERED = "recovered"

    @property
    def headline(self) -> str:
        return {
            "failed": "failed",
            "partial": "partly failed",
            "blocked": "was blocked by the safety threshold",
            "recovered": "is back to normal",
        }[self.value]


def outcome_of(run: SyncRun) -> Outcome | None:
    """What the admins are told about this ended run; None: nothing."""
    status = SyncStatus(run.status).value
    if status in QUIET or run.is_preview:  # a preview's admin is looking at its result
        return None
    if status == "blocked" or run.error_code == BLOCKED_CODE:
        return Outcome.BLOCKED
    if status == "failed":
        return Outcome.FAILED
    if status == "partial":
        return Outcome.PARTIAL
    if status == "succeeded" and _previous_status(run) not in (None, "succeeded"):
        return Outcome.RECOVERED
    return None


def _previous_status(run: SyncRun) -> str | None:
    """The status of the integration's finished, non-cancelled run before this one."""
    previous = db.session.scalar(
        select(SyncRun.status)
        .where(
            SyncRun.integration_id == run.integration_id,
            SyncRun.id < run.id,
            SyncRun.status.not_in(QUIET),
            SyncRun.trigger != SyncTrigger.PREVIEW,  # a failed preview is no failed sync
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    return SyncStatus(previous).value if previous is not None else None


def recipients(device_id: int) -> list[AdminUser]:
    """The device's admins who want these emails (never another device's)."""
    return list(
        db.session.scalars(
            select(AdminUser)
            .where(AdminUser.device_id == device_id, AdminUser.notify_sync_results.is_(True))
            .order_by(AdminUser.id)
        )
    )


def subject(integration_name: str, outcome: Outcome, code: str | None) -> str:
    """One line: a name with a line break in it would be refused as a mail header."""
    integration_name = " ".join(integration_name.split())
    suffix = f" ({code})" if code and outcome is not Outcome.RECOVERED else ""
    return f"Sync of {integration_name} {outcome.headline}{suffix}"


def run_ended(run_id: int) -> int:
    """Queue the emails the end of run `run_id` calls for; returns how many were queued.

    Safe to call more than once and from any path that ended a run; it never raises, so
    the caller's own outcome stays what it was.
    """
    try:
        return _queue_emails(run_id)
    except Exception:
        db.session.rollback()
        log.exception("could not queue the emails about sync run %s", run_id)
        return 0


def _queue_emails(run_id: int) -> int:
    db.session.rollback()  # read the run as committed, outside any caller's transaction
    run = db.session.get(SyncRun, run_id)
    if run is None or run.notified_at is not None:
        return 0
    outcome = outcome_of(run)
    if outcome is None:
        return 0
    if not _claim(run_id):  # claimed even when nobody is told: the sweep looks no more
        return 0
    admins = recipients(run.device_id)
    if not admins:
        return 0
    integration = db.session.get(OneRosterIntegration, run.integration_id)
    title = subject(integration.name if integration else "an integration", outcome, run.error_code)
    if not current_app.config.get("SMTP_URL"):
        log.info(
            "SMTP_URL is not set: would have sent %r to %d admin(s) of device %s",
            title,
            len(admins),
            run.device_id,
        )
        return 0
    queued = 0
    for admin in admins:
        try:
            queue.enqueue_notification(run_id, admin.id, outcome.value)
            queued += 1
        except RedisError:
            log.warning("could not queue the email about sync run %s: Redis unreachable", run_id)
            if not queued:  # nothing went out: the sweep's `notify_unsent` tries again
                _unclaim(run_id)
            break
    log.info("queued %d email(s) about sync run %s (%s)", queued, run_id, outcome.value)
    return queued


def _claim(run_id: int) -> bool:
    """Mark the run notified; False when another call already did (one email per run)."""
    result = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.notified_at.is_(None))
        .values(notified_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _unclaim(run_id: int) -> None:
    db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(notified_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


# How far back the sweep looks for troubled runs whose emails were never queued.
UNSENT_WITHIN = timedelta(days=1)
TROUBLED = ("failed", "partial", "blocked")


def notify_unsent(now: datetime) -> int:
    """Queue the emails of runs that ended troubled in the last UNSENT_WITHIN but whose
    emails were never queued; returns how many were queued. Called by the sweep.

    Catches the ends no worker reported: a run failed because its job could not be
    queued (JB302: Redis was down, so its email could not be queued either), one whose
    worker died between committing the end and queueing the email, or one whose email
    met Redis down. A recovery email is not caught up (it would need each succeeded
    run's history).
    """
    ids = db.session.scalars(
        select(SyncRun.id).where(
            SyncRun.notified_at.is_(None),
            SyncRun.status.in_(TROUBLED),
            SyncRun.trigger != SyncTrigger.PREVIEW,
            SyncRun.finished_at >= now - UNSENT_WITHIN,
        )
    ).all()
    return sum(run_ended(run_id) for run_id in ids)


def set_sync_emails(admin: AdminUser, enabled: bool) -> None:
    """Switch the admin's sync emails on or off (the Notifications page)."""
    admin.notify_sync_results = enabled
    db.session.commit()
