"""One sync of one integration, start to finish: ``run_sync(run_id, env)``.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from cryptography.fernet import InvalidToken
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration, SyncRun, SyncStatus
from sisapp.models.sis_mirror import NAME_LENGTH
from sisapp.models.types import utcnow
from sisapp.oneroster import ErrorCode, OneRosterClient, OneRosterError
from sisapp.services.integrations import connection_settings
from sisapp.sync.apply import LargeRemoval, recompute
from sisapp.sync.errors import SyncError, SyncErrorCode
from sisapp.sync.members import staged_pairs
from sisapp.sync.mirror import merge_mirror
from sisapp.sync.rematch import Rematch, basis_key
from sisapp.sync.runlog import RunLog, RunRecorder
from sisapp.sync.stage_tables import analyze_stage, create_stage, drop_stage
from sisapp.sync.staging import ReadResult, clean, read_sis

logger = logging.getLogger(__name__)


@dataclass
class SyncEnvironment:
    """What a sync needs from the app's configuration (jobs and the CLI build it)."""

    box: SecretBox
    allow_private: bool = False
    removal_threshold: float = 0.2
    page_size: int = 1000
    concurrency: int = 8
    progress_interval: float = 1.0
    today: date | None = None  # None: today in the device's region
    on_progress: Callable[[dict], None] | None = None
    # Extra ConnectionSettings fields (max_retries, backoff_base, ...): tests and bench.
    client_options: dict = field(default_factory=dict)


def run_sync(run_id: int, env: SyncEnvironment) -> SyncRun | None:
    """Run a queued ``SyncRun`` to its end in this thread; returns the finished run.

    Known failures end the run with their code and are not raised; an unexpected
    exception is logged with its traceback and recorded as ``SY100``.
    """
    run = db.session.get(SyncRun, run_id)
    if run is None:
        return None
    claimed = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status == SyncStatus.QUEUED)
        .values(status=SyncStatus.RUNNING, started_at=utcnow(), heartbeat_at=utcnow(), phase="starting")
    ).rowcount  # fmt: skip
    db.session.commit()
    if not claimed:
        logger.info("sync run %s is not queued; not running it again", run_id)
        db.session.refresh(run)
        return run
    log = RunLog(run_id)
    recorder = RunRecorder(run_id, log, env.progress_interval, env.on_progress)
    try:
        _execute(run_id, env, recorder)
    except OneRosterError as exc:
        cancelled = exc.code is ErrorCode.CANCELLED
        message = "The sync was cancelled; no data was changed." if cancelled else str(exc)
        status = SyncStatus.CANCELLED if cancelled else SyncStatus.FAILED
        _finish_unapplied(run_id, recorder, status, exc.code.value, message)
    except LargeRemoval as exc:
        _finish_unapplied(run_id, recorder, SyncStatus.PARTIAL, exc.code.value, exc.message)
    except SyncError as exc:
        _finish_unapplied(run_id, recorder, SyncStatus.FAILED, exc.code.value, exc.message)
    except DBAPIError:
        logger.exception("database error in sync run %s", run_id)
        code = SyncErrorCode.DATABASE_ERROR
        _finish_unapplied(run_id, recorder, SyncStatus.FAILED, code.value, code.meaning)
    except Exception:
        logger.exception("unexpected error in sync run %s", run_id)
        code = SyncErrorCode.INTERNAL_ERROR
        _finish_unapplied(run_id, recorder, SyncStatus.FAILED, code.value, code.meaning)
    db.session.expire_all()
    return db.session.get(SyncRun, run_id)


def _today(integration: OneRosterIntegration, env: SyncEnvironment) -> date:
    if env.today is not None:
        return env.today
    zone = ZoneInfo(integration.device.region.timezone)
    return datetime.now(UTC).astimezone(zone).date()


def _execute(run_id: int, env: SyncEnvironment, recorder: RunRecorder) -> None:
    run = db.session.get(SyncRun, run_id)
    integration = db.session.get(OneRosterIntegration, run.integration_id)
    if integration is None:
        raise SyncError(
            SyncErrorCode.INTEGRATION_MISSING, SyncErrorCode.INTEGRATION_MISSING.meaning
        )
    try:
        settings = connection_settings(
            integration,
            env.box,
            allow_private=env.allow_private,
            page_size=env.page_size,
            concurrency=env.concurrency,
            **env.client_options,
        )
    except InvalidToken:
        raise SyncError(
            SyncErrorCode.SECRET_UNREADABLE, SyncErrorCode.SECRET_UNREADABLE.meaning
        ) from None
    today = _today(integration, env)
    started = utcnow()
    log = recorder.log
    full, integration_id = bool(run.full), integration.id
    # From here on only the run's session is used: an object of the caller's session
    # touched inside would reload through it and hold a second connection all along.
    with _run_connection():
        integration = db.session.get(OneRosterIntegration, integration_id)
        with OneRosterClient(settings, log=log.info, should_stop=recorder.should_stop) as client:
            read = read_sis(client, integration, run_id, full, started, recorder)
            version, auth = client.version, client.auth_mode
            records, pages, retries = client.records_read, client.pages_read, client.retries
        log.add(f"read {records} records in {pages} pages ({retries} retries)", summary=True)
        if read.failed and not read.read_schools:
            first = next(iter(read.failed.values()))
            raise SyncError(SyncErrorCode.ALL_SCHOOLS_FAILED, f"No school could be read: {first}")
        _apply(run_id, integration, read, env, recorder, today, (version, auth, records))


@contextmanager
def _run_connection() -> Iterator[None]:
    """Run the read and the apply on one connection of their own, holding the staging
    tables (temporary tables, see ``stage_tables``).

    ``db.session`` is a session bound to that connection meanwhile (the caller's
    session, and the objects it holds, are put back afterwards), so staging batches and
    the apply's transaction share the temporary tables whatever the pool hands out.
    """
    registry = db.session.registry
    outer = registry()
    outer.commit()  # ends its read transaction: no snapshot held for the hours of a read
    conn = db.engine.connect()
    try:
        _no_foreign_key_checks(conn)
        create_stage(conn)
        conn.commit()
        registry.set(Session(bind=conn))
        try:
            yield
        finally:
            registry().close()
            registry.set(outer)
    finally:
        _release(conn)


def _release(conn) -> None:
    """SQLite: the run's connection is closed, not pooled, and its temporary tables and
    foreign-key setting go with it (closing frees the staging at once; dropping the
    tables took a quarter of a second). PostgreSQL: the staging tables are dropped and
    the connection goes back to the pool, unless that fails: then it is discarded."""
    if conn.dialect.name != "sqlite":
        try:
            conn.rollback()
            drop_stage(conn)
            conn.commit()
            conn.close()
            return
        except Exception:  # noqa: BLE001 - the run's own outcome is what gets reported
            logger.warning("could not drop the staging tables; discarding the connection")
    conn.invalidate()
    conn.close()


def _no_foreign_key_checks(conn) -> None:
    """SQLite only: foreign keys are not checked on the run's connection.

    Every row the apply writes is derived, inside its transaction, from rows that
    transaction reads (classrooms it just wrote, directory users it just matched), and
    SQLite lets no other writer commit between those reads and the apply's first write
    (a stale snapshot cannot take the write lock). So the checks could never fail, yet
    they cost a parent lookup per row: a second of a 50,000-student first sync. The apply
    deletes a classroom's members itself before the classroom, so no cascade is needed.
    ``tests/sync/test_integrity.py`` runs SQLite's ``foreign_key_check`` after syncs of
    every kind. PostgreSQL keeps its checks (they cannot be switched off per session).
    The connection is closed after the run (``_release``), so the setting dies with it.
    """
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("PRAGMA foreign_keys=OFF did not take effect (inside a transaction?)")


def _apply(run_id, integration, read: ReadResult, env, recorder, today, found) -> None:
    version, auth, records = found
    recorder.set_phase("applying", "applying the changes in one transaction")
    recorder.paused = db.engine.dialect.name == "sqlite"  # it holds the write lock now
    started = time.monotonic()
    excluded = set(integration.excluded_school_ids or ())
    conn = db.session.connection()
    analyze_stage(conn)
    # Cut to the column like every other SIS string: classrooms and unmatched users store it.
    schools = {s.sourced_id: clean(s.name, NAME_LENGTH) or s.sourced_id for s in read.schools}
    key = basis_key(conn, integration, excluded, schools)
    rematch = None
    if Rematch.usable(integration, read.full, key):
        rematch = Rematch.before_merge(conn, integration, run_id, excluded, schools)
        recorder.log.info(f"matching again the {len(rematch.sids)} users the changes concern")
    dirty = None
    if _incremental(integration, read):
        dirty = staged_pairs(conn, integration.id, run_id, list(read.read_schools))
    if merge_mirror(conn, integration, run_id, read, excluded):
        dirty = None
    derived = recompute(conn, integration, run_id, excluded, schools, today,
                        key=key, dirty=dirty, rematch=rematch)  # fmt: skip
    over = derived.removals.exceeded(env.removal_threshold)
    if over and not integration.allow_large_removals:
        db.session.rollback()
        raise LargeRemoval(
            "This sync would remove "
            + ", ".join(over)
            + f", more than the {env.removal_threshold:.0%} safety limit, so nothing was "
            "changed. If this is expected, choose 'Allow large removals' on the integration "
            "and sync again (it applies to the next sync only)."
        )
    if over:
        recorder.log.add("large removals allowed once by the admin: " + ", ".join(over), "warning")
    if recorder.read_cancel():
        db.session.rollback()
        raise OneRosterError(ErrorCode.CANCELLED, "The sync was cancelled.")
    status, code, message = SyncStatus.SUCCEEDED, None, None
    if read.failed:
        status, code, message = (
            SyncStatus.PARTIAL,
            ErrorCode.SCHOOL_READ_FAILED.value,
            _partial(read),
        )
    integration.schools = [{"sourced_id": sid, "name": name} for sid, name in schools.items()]
    integration.last_sync_at = read.started_at
    integration.needs_sync = False
    integration.allow_large_removals = False
    integration.detected_version, integration.detected_auth = version, auth
    counts = {
        "unmatched_users": derived.summary.unmatched,
        "matched_students": derived.summary.matched_students,
        "matched_teachers": derived.summary.matched_teachers,
        "imported_classes": derived.imported_classes,
        "parents": derived.parents,
    }
    _log_summary(recorder.log, derived, counts, time.monotonic() - started)
    if message:
        recorder.log.add(message, "warning", summary=True)
    conn.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            status=status, error_code=code, error_message=message, finished_at=utcnow(),
            heartbeat_at=utcnow(), phase="done", progress_done=recorder.total,
            progress_total=recorder.total, records_read=records,
            log_truncated=recorder.log.dropped, **counts,
        )
    )  # fmt: skip
    recorder.log.write(conn)
    db.session.commit()
    recorder.paused = False
    if env.on_progress:
        env.on_progress({**recorder.snapshot(), "phase": "done", "progress_done": recorder.total})


def _incremental(integration: OneRosterIntegration, read: ReadResult) -> bool:
    """Whether memberships may be recomputed for the changed classes only (see members)."""
    return not (
        read.full
        or integration.needs_sync
        or integration.respect_enrolment_date
        or any(read.read_schools.values())
    )


def _partial(read: ReadResult) -> str:
    names = {s.sourced_id: s.name or s.sourced_id for s in read.schools}
    parts = [
        f"{names.get(sid, sid)} ({sid}): {(exc.cause_code or exc.code).value}"
        for sid, exc in read.failed.items()
    ]
    return (
        f"{len(parts)} school(s) could not be read: {'; '.join(parts)}. The other schools "
        "were synced; these keep their previous data. If a school keeps failing, you can "
        "exclude it from the sync."
    )


def _log_summary(log: RunLog, derived, counts: dict, seconds: float) -> None:
    match = derived.summary
    for sid, email, first in match.duplicates:
        log.warning(f"duplicate email {email}: SIS user {sid} skipped, {first} matched first")
    if match.duplicate_count:
        log.add(f"{match.duplicate_count} users skipped as duplicate emails", "warning", summary=True)  # fmt: skip
    if match.other_roles:
        roles = ", ".join(f"{n} {role}" for role, n in sorted(match.other_roles.items()))
        log.add(f"not matched (other roles): {roles}", summary=True)
    if match.skipped:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(match.skipped.items()))
        log.add(f"students and teachers left out: {skipped}", summary=True)
    if derived.parent_skips:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(derived.parent_skips.items()) if n)
        if skipped:
            log.add(f"parents skipped: {skipped}", "warning", summary=True)
    removals = derived.removals
    log.add(
        "removed: "
        + ", ".join(
            f"{removals.removed[k]} of {removals.held[k]} {k}"
            for k in ("users", "classrooms", "memberships")
        ),  # fmt: skip
        summary=True,
    )
    details = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items())
    log.add(f"applied in {seconds:.1f} s: {details}", summary=True)


def _finish_unapplied(run_id, recorder: RunRecorder, status, code: str, message: str) -> None:
    """Record an ending that applied nothing, in its own transaction (retried briefly)."""
    db.session.rollback()
    recorder.paused = False
    recorder.log.add(f"{status.value}: {message}", "error" if status is SyncStatus.FAILED else "warning", summary=True)  # fmt: skip
    for attempt in range(4):
        try:
            with db.engine.begin() as conn:
                conn.execute(
                    update(SyncRun)
                    .where(SyncRun.id == run_id)
                    .values(
                        status=status, error_code=code, error_message=message[:4000],
                        finished_at=utcnow(), heartbeat_at=utcnow(), phase=status.value,
                        records_read=recorder.records, log_truncated=recorder.log.dropped,
                    )
                )  # fmt: skip
                recorder.log.write(conn)
            return
        except DBAPIError:
            logger.warning("could not record the end of sync run %s", run_id, exc_info=True)
            time.sleep(0.5 * (attempt + 1))
    logger.error("gave up recording the end of sync run %s (left for the sweep)", run_id)
