"""Run one sync of one integration as its pipeline: claim, read, mirror, match, derive, record.

The run row is the record: it is claimed (queued -> running), fed progress while the
SIS is read into staging, and finished in the same transaction that applies the data,
so "succeeded" and the new data commit together. Every other ending (a coded SIS
failure, a cancel, the safety threshold, a bug, a database outage) rolls the apply back
and records the reason in a separate transaction: synced data and ``last_sync_at`` stay
as they were, and a re-run is always safe because a run only ever writes its own
staging rows (temporary tables of its connection) before the apply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.oneroster import ErrorCode, OneRosterError
from sisapp.sync import dialect
from sisapp.sync.changes import ChangeSet
from sisapp.sync.collector import fewer_collections
from sisapp.sync.derive import Derived, LargeRemoval, check_removals, recompute
from sisapp.sync.environment import SyncEnvironment
from sisapp.sync.errors import SyncError, SyncErrorCode
from sisapp.sync.match import match_users
from sisapp.sync.memberships import changed_only, staged_pairs
from sisapp.sync.mirror import MergeWhileReading, merge_mirror
from sisapp.sync.read import ReadResult, read_sis
from sisapp.sync.record import (
    RunEnded,
    RunLog,
    RunRecorder,
    claim,
    finish_applied,
    finish_unapplied,
)
from sisapp.sync.rematch import Rematch, basis_key
from sisapp.sync.stage import analyze_stage, create_stage, drop_stage

logger = logging.getLogger(__name__)


def run_sync(run_id: int, env: SyncEnvironment) -> SyncRun | None:
    """Run a queued ``SyncRun`` to its end in this thread; returns the finished run.

    Known failures end the run with their code and are not raised; an unexpected
    exception is logged with its traceback and recorded as ``SY100``.
    """
    run = db.session.get(SyncRun, run_id)
    if run is None:
        return None
    if not claim(run_id):
        logger.info("sync run %s is not queued; not running it again", run_id)
        db.session.refresh(run)
        return run
    recorder = RunRecorder(
        run_id, RunLog(run_id), env.progress_interval, env.on_progress, deadline=env.run_deadline
    )

    try:
        with fewer_collections():
            _sync(run_id, env, recorder)
    except RunEnded as exc:  # its transaction rolled back with the run's session
        logger.warning("%s", exc)
    except OneRosterError as exc:
        if exc.code is ErrorCode.CANCELLED and recorder.past_deadline():
            code = SyncErrorCode.RUN_DEADLINE
            _unapplied(recorder, env, SyncStatus.FAILED, code.value, code.meaning)
        else:
            cancelled = exc.code is ErrorCode.CANCELLED
            message = "The sync was cancelled; no data was changed." if cancelled else str(exc)
            status = SyncStatus.CANCELLED if cancelled else SyncStatus.FAILED
            _unapplied(recorder, env, status, exc.code.value, message)
    except PreviewDone as done:
        _unapplied(recorder, env, SyncStatus.PREVIEW, None, done.message, derived=done.derived)
    except LargeRemoval as exc:
        derived = getattr(exc, "derived", None)
        _unapplied(recorder, env, SyncStatus.BLOCKED, exc.code.value, exc.message, derived=derived)
    except SyncError as exc:
        _unapplied(recorder, env, SyncStatus.FAILED, exc.code.value, exc.message)
    except DBAPIError:
        logger.exception("database error in sync run %s", run_id)
        code = SyncErrorCode.DATABASE_ERROR
        _unapplied(recorder, env, SyncStatus.FAILED, code.value, code.meaning)
    except Exception:
        logger.exception("unexpected error in sync run %s", run_id)
        code = SyncErrorCode.INTERNAL_ERROR
        _unapplied(recorder, env, SyncStatus.FAILED, code.value, code.meaning)
    db.session.expire_all()
    return db.session.get(SyncRun, run_id)


def _sync(run_id: int, env: SyncEnvironment, recorder: RunRecorder) -> None:
    """The pipeline. Everything after the read is one transaction, committed at the end."""
    run = db.session.get(SyncRun, run_id)
    integration = db.session.get(OneRosterIntegration, run.integration_id)
    if integration is None:
        code = SyncErrorCode.INTEGRATION_MISSING
        raise SyncError(code, code.meaning)
    settings = env.client_settings(integration)
    today = env.today or _today_in_region(integration)
    started, full = utcnow(), bool(run.full)
    preview = run.trigger is SyncTrigger.PREVIEW
    with run_session(integration.id) as (session, integration):
        merged = None
        if env.merge_while_reading and dialect.merges_while_reading(session.connection()):
            merged = MergeWhileReading(integration.id, run_id)
        read = read_sis(session, settings, integration, run_id, full, started, recorder,
                        margin=env.delta_margin, staged=merged)  # fmt: skip

        recorder.set_phase("applying", "applying the changes in one transaction")
        conn = session.connection()
        recorder.paused = dialect.apply_blocks_writers(conn)  # progress waits for the commit
        clock = time.monotonic()
        if not read.full:
            dialect.plan_for_few_rows(conn)
        analyze_stage(conn)
        excluded, schools = set(integration.excluded_school_ids or ()), read.school_names()
        key = basis_key(conn, integration, excluded, schools)
        rematch = None
        if Rematch.usable(integration, read.full, key):
            rematch = Rematch.before_merge(conn, integration, run_id, excluded, schools)
            recorder.log.info(f"matching again the {len(rematch.sids)} users the changes concern")
        dirty = None
        if changed_only(integration, read):
            dirty = staged_pairs(conn, integration.id, run_id, list(read.read_schools))

        if merge_mirror(conn, integration, run_id, read, excluded, merged):
            dirty = None  # whole school slices went: every membership is recomputed
        match = match_users(conn, integration, excluded, schools, today, rematch)
        derived = recompute(conn, integration, run_id, match, excluded, schools, today,
                            key=key, dirty=dirty, rematch=rematch,
                            changes=ChangeSet(limit=env.change_rows_per_kind))  # fmt: skip
        try:
            check_removals(derived.removals, integration, env.removal_threshold, recorder.log)
        except LargeRemoval as exc:
            exc.derived = derived
            raise
        if recorder.read_cancel():
            raise OneRosterError(ErrorCode.CANCELLED, "The sync was cancelled.")
        if preview:  # docs/sync-rules.md rule 12: everything computed, nothing kept
            raise PreviewDone(derived)

        _remember(integration, read, schools)
        finish_applied(conn, recorder, read, derived, time.monotonic() - clock)
        session.commit()
    recorder.paused = False
    if env.on_progress:
        snap = recorder.snapshot()
        env.on_progress({**snap, "phase": "done", "progress_done": snap["progress_total"]})


@contextmanager
def run_session(integration_id: int) -> Iterator[tuple[Session, OneRosterIntegration]]:
    """A session on a connection of the run's own, holding the staging tables (temporary
    tables, see ``stage``), and the integration loaded through it.

    The read and the apply use only this session, so staging batches and the apply's
    transaction share the temporary tables whatever the pool hands out. The caller's
    session is committed first (no snapshot held for the hours of a read) and not used
    meanwhile: an object of it touched inside would reload through it and hold a second
    connection all along.
    """
    db.session.commit()
    conn = db.engine.connect()
    try:
        dialect.skip_foreign_key_checks(conn)
        create_stage(conn)
        conn.commit()
        with Session(bind=conn) as session:
            yield session, session.get(OneRosterIntegration, integration_id)
    finally:
        dialect.release_run_connection(conn, drop_stage)


def _today_in_region(integration: OneRosterIntegration) -> date:
    zone = ZoneInfo(integration.device.region.timezone)
    return datetime.now(UTC).astimezone(zone).date()


def _remember(integration: OneRosterIntegration, read: ReadResult, schools: dict) -> None:
    """What the integration keeps of this sync (written with the apply)."""
    integration.schools = [{"sourced_id": sid, "name": name} for sid, name in schools.items()]
    integration.last_sync_at = read.started_at
    integration.needs_sync = False
    integration.allow_large_removals = False
    integration.detected_version, integration.detected_auth = read.detected


class PreviewDone(Exception):
    """A preview computed its change set: the apply is rolled back, the set recorded."""

    def __init__(self, derived: Derived) -> None:
        self.derived = derived
        self.message = "Preview: this is what a sync would change now; nothing was changed."
        super().__init__(self.message)


def _unapplied(recorder: RunRecorder, env: SyncEnvironment, status, code: str | None,
               message: str, derived: Derived | None = None):  # fmt: skip
    """End the run without its data: the caller's session let go, the end recorded (with
    the change set it computed and did not apply, for a blocked run or a preview)."""
    db.session.rollback()
    finish_unapplied(recorder, status, code, message, window=env.end_record_window, derived=derived)
