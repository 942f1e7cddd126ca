"""Record a sync on its run row: the claim, progress, heartbeat, log and how it ended.

Progress writes go through their own short transactions on a separate connection, never the
sync's data transaction, so the page sees progress while the sync reads, and a rolled
back apply never takes the log of what went wrong with it. Writes are throttled (at
most once per ``interval`` seconds) because a district has a million records.

The log is bounded: the first ``HEAD_LINES`` lines are kept whatever their level, after
that only warnings and errors, up to ``MAX_LINES``; summary lines always go in. What was
dropped is counted in ``SyncRun.log_truncated``.

The end of a run that applied is written in the apply transaction itself
(``finish_applied``), so "succeeded" and the new data commit together; every other
ending is written in a transaction of its own (``finish_unapplied``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.oneroster import ErrorCode

logger = logging.getLogger(__name__)

run_logger = logging.getLogger("sisapp.sync.run")

ACTIVE = (SyncStatus.QUEUED, SyncStatus.RUNNING)

HEAD_LINES = 2500
MAX_LINES = 5000
MAX_MESSAGE = 1000
STEP = 100  # progress units per step of a run (see RunRecorder.snapshot)


class RunLog:
    """Thread-safe buffered log lines of one run (the client logs from its page threads)."""

    def __init__(self, run_id: int, head: int = HEAD_LINES, limit: int = MAX_LINES) -> None:
        self.run_id = run_id
        self.head, self.limit = head, limit
        self.kept = 0
        self.dropped = 0
        self._buffer: list[dict] = []
        self._lock = threading.Lock()

    def add(self, message: str, level: str = "info", *, summary: bool = False) -> None:
        message = " ".join(str(message).replace("\x00", "").split())[:MAX_MESSAGE]
        # The process log gets the summary and every problem too, tagged with the run when
        # the caller set run_log_context (the page's log keeps every line).
        python_level = logging.WARNING if level in ("warning", "error") else logging.INFO
        run_logger.log(python_level if summary or python_level > logging.INFO else logging.DEBUG,
                       "run %s: %s", self.run_id, message)  # fmt: skip
        with self._lock:
            important = summary or level in ("warning", "error")
            if self.kept >= self.limit or (self.kept >= self.head and not important):
                self.dropped += 1
                return
            self.kept += 1
            self._buffer.append(
                {"run_id": self.run_id, "at": utcnow(), "level": level, "message": message}
            )

    def info(self, message: str) -> None:
        self.add(message)

    def warning(self, message: str) -> None:
        self.add(message, "warning")

    def error(self, message: str) -> None:
        self.add(message, "error", summary=True)

    def take(self) -> list[dict]:
        with self._lock:
            rows, self._buffer = self._buffer, []
        return rows

    def write(self, conn) -> None:
        """Insert the buffered lines on ``conn`` (the caller's transaction)."""
        rows = self.take()
        if rows:
            conn.execute(insert(SyncLogLine), rows)


@dataclass(eq=False)
class RunRecorder:
    """Progress, heartbeat, cancel checks and log flushes for one run."""

    run_id: int
    log: RunLog
    interval: float = 1.0
    on_progress: Callable[[dict], None] | None = None
    clock: Callable[[], float] = time.monotonic
    # Seconds the run may take (SYNC_RUN_DEADLINE); past it should_stop answers True.
    deadline: float | None = None
    phase: str = field(default="starting", init=False)
    done: int = field(default=0, init=False)
    total: int = field(default=0, init=False)
    records: int = field(default=0, init=False)
    # True while the apply transaction keeps other writers out (SQLite's write lock).
    paused: bool = field(default=False, init=False)
    # The OneRoster client of the read (``watch``): its counters by collection feed progress.
    source: object | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._last_write = float("-inf")
        self._last_cancel_check = float("-inf")
        self._cancelled = False
        self._cancel_lock = threading.Lock()
        self._stop_at = None if self.deadline is None else self.clock() + self.deadline
        # Bound now: the client's read-ahead threads ask should_stop outside the app context.
        self._engine = db.engine

    # --- progress ------------------------------------------------------------------

    def set_phase(self, phase: str, message: str | None = None) -> None:
        self.phase = phase
        if message:
            self.log.info(message)
        self.tick(force=True)

    def step(self, done: int | None = None, total: int | None = None) -> None:
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        self.tick()

    def watch(self, client) -> None:
        """Take records read (in all and by collection) from ``client`` at each write, so
        the page shows the read moving within a phase, not only between phases."""
        self.source = client

    def tick(self, records: int | None = None, force: bool = False) -> None:
        """Write progress when ``interval`` has passed (or ``force``); cheap otherwise."""
        if records is not None:
            self.records = records
        now = self.clock()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        if self.on_progress:
            self.on_progress(self.snapshot())
        if not self.paused:
            self.write()

    def snapshot(self) -> dict:
        """Progress as the run row stores it. Steps are counted in hundredths, so a phase
        reading one whole collection whose size the SIS told (users) moves the bar as its
        pages arrive instead of jumping at the end."""
        done, counts = self.done * STEP, None
        if self.source is not None:
            counts = self.source.collection_counts()
            self.records = max(self.records, sum(counts["read"].values()))
            expected = counts["expected"].get(self.phase) if self.phase == "users" else None
            if expected and self.done < self.total:
                done += min(STEP - 1, STEP * counts["read"].get(self.phase, 0) // expected)
        snap = {
            "phase": self.phase,
            "progress_done": done,
            "progress_total": self.total * STEP,
            "records_read": self.records,
        }
        if counts is not None:
            snap["read_counts"] = counts
        return snap

    def write(self, **extra) -> None:
        """Progress, heartbeat and buffered log lines in one short transaction."""
        values = {**self.snapshot(), "heartbeat_at": utcnow(), **extra}
        values["phase"] = values["phase"][:40]
        try:
            with self._engine.begin() as conn:
                conn.execute(update(SyncRun).where(SyncRun.id == self.run_id).values(**values))
                self.log.write(conn)
        except Exception:  # noqa: BLE001 - progress is best effort; the run goes on
            logger.warning("could not record progress of sync run %s", self.run_id, exc_info=True)

    # --- cancel ------------------------------------------------------------------------

    def should_stop(self) -> bool:
        """``SyncRun.cancel_requested``, re-read from the database at most once per interval;
        True as well once the run is past its deadline (``past_deadline``)."""
        if self._cancelled or self.past_deadline():
            return True
        with self._cancel_lock:
            now = self.clock()
            if now - self._last_cancel_check < self.interval:
                return self._cancelled
            self._last_cancel_check = now
            self._cancelled = self.read_cancel()
        return self._cancelled

    def past_deadline(self) -> bool:
        return self._stop_at is not None and self.clock() >= self._stop_at

    def read_cancel(self) -> bool:
        try:
            with self._engine.connect() as conn:
                return bool(
                    conn.scalar(select(SyncRun.cancel_requested).where(SyncRun.id == self.run_id))
                )
        except Exception:  # noqa: BLE001 - an unreadable flag is not a cancel
            logger.warning("could not read cancel flag of sync run %s", self.run_id, exc_info=True)
            return False


# --- the run's beginning and end ---------------------------------------------------------


def claim(run_id: int) -> bool:
    """Move the run from queued to running; False when it was not queued (ran already)."""
    claimed = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status == SyncStatus.QUEUED)
        .values(status=SyncStatus.RUNNING, started_at=utcnow(), heartbeat_at=utcnow(), phase="starting")
    ).rowcount  # fmt: skip
    db.session.commit()
    return bool(claimed)


def finish_applied(conn, recorder: RunRecorder, read, derived, seconds: float) -> None:
    """Write the run's outcome, counts and log on ``conn``, in the apply transaction
    (the caller commits). A read with failed schools ends partial."""
    status, code, message = SyncStatus.SUCCEEDED, None, None
    if read.failed:
        status, code, message = SyncStatus.PARTIAL, ErrorCode.SCHOOL_READ_FAILED.value, _partial(read)  # fmt: skip
    counts = _counts(derived)
    _log_summary(recorder.log, derived, counts, seconds)
    if message:
        recorder.log.add(message, "warning", summary=True)
    changes = derived.changes
    ended = conn.execute(
        update(SyncRun)
        .where(SyncRun.id == recorder.run_id, SyncRun.status == SyncStatus.RUNNING)
        .values(
            status=status, error_code=code, error_message=message, finished_at=utcnow(),
            heartbeat_at=utcnow(), phase="done", progress_done=recorder.total * STEP,
            progress_total=recorder.total * STEP, records_read=read.records,
            log_truncated=recorder.log.dropped, changes=changes.counts, **counts,
        )
    ).rowcount  # fmt: skip
    if not ended:
        raise RunEnded(recorder.run_id)
    recorder.log.write(conn)
    changes.write(conn, recorder.run_id)


class RunEnded(Exception):
    """The run was ended elsewhere (the sweep, a forced cancel) while this process still
    worked on it: whatever it did must roll back, and its end is not written again."""

    def __init__(self, run_id: int):
        super().__init__(f"sync run {run_id} was ended elsewhere; its work is rolled back")


def finish_unapplied(
    recorder: RunRecorder, status: SyncStatus, code: str | None, message: str, *,
    window: float = 0, derived=None,
) -> bool:  # fmt: skip
    """Record an ending that applied nothing, in its own transaction, only while the run is
    still active. A database that is unreachable is retried with a growing pause for up
    to ``window`` seconds, so an outage ends the run with its own code (SY120) instead of
    leaving it to the sweep. Returns False when the end could not be recorded.

    ``derived``: what a blocked run or a preview computed; its change set (the refused
    or previewed changes) is recorded, and a preview's Sync Details counts too."""
    run_id = recorder.run_id
    recorder.paused = False
    extra = {}
    if derived is not None:
        _log_changes(recorder.log, derived)
        extra["changes"] = derived.changes.counts
        if status is SyncStatus.PREVIEW:
            extra.update(_counts(derived))
    level = "error" if status is SyncStatus.FAILED else "info" if status is SyncStatus.PREVIEW else "warning"  # fmt: skip
    recorder.log.add(f"{status.value}: {message}", level, summary=True)
    deadline, pause = time.monotonic() + window, 0.5
    while True:
        try:
            with db.engine.begin() as conn:
                ended = conn.execute(
                    update(SyncRun)
                    .where(SyncRun.id == run_id, SyncRun.status.in_(ACTIVE))
                    .values(
                        status=status, error_code=code, error_message=message[:4000],
                        finished_at=utcnow(), heartbeat_at=utcnow(), phase=status.value,
                        records_read=recorder.records, log_truncated=recorder.log.dropped,
                        **extra,
                    )
                ).rowcount  # fmt: skip
                if ended:
                    recorder.log.write(conn)
                    if derived is not None:
                        derived.changes.write(conn, run_id)
                else:
                    logger.warning("sync run %s was ended elsewhere; not ending it again", run_id)
            return True
        except DBAPIError:
            if time.monotonic() + pause > deadline:
                break
            logger.warning("could not record the end of sync run %s; retrying", run_id)
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
    logger.error("gave up recording the end of sync run %s (left for the sweep)", run_id)
    return False


def _counts(derived) -> dict:
    return {
        "unmatched_users": derived.summary.unmatched,
        "matched_students": derived.summary.matched_students,
        "matched_teachers": derived.summary.matched_teachers,
        "imported_classes": derived.imported_classes,
        "parents": derived.parents,
    }


def _log_changes(log: RunLog, derived) -> None:
    """The change set and every removal with its reason (also the ones the admin chose,
    which the safety threshold does not count)."""
    removals, changes = derived.removals, derived.changes
    log.add(changes.summary(), summary=True)
    for line in changes.removal_lines():
        log.add(line, summary=True)
    gone = changes.counts
    log.add(
        f"removed: {gone['matched_users']['removed']} of {removals.held['users']} users, "
        f"{gone['classrooms']['removed']} of {removals.held['classrooms']} classrooms, "
        f"{gone['memberships']['removed']} of {removals.held['memberships']} memberships; "
        "counted towards the safety threshold: "
        + ", ".join(f"{removals.removed[k]} {k}" for k in ("users", "classrooms", "memberships")),
        summary=True,
    )


def _partial(read) -> str:
    names = {s.sourced_id: s.name or s.sourced_id for s in read.schools}
    parts = [
        f"{names.get(sid, sid)} ({sid}): {(exc.cause_code or exc.code).value}"
        for sid, exc in read.failed.items()
    ]
    return (
        f"{len(parts)} {'school' if len(parts) == 1 else 'schools'} could not be read: {'; '.join(parts)}. The other schools "
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
    _log_changes(log, derived)
    details = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items())
    log.add(f"applied in {seconds:.1f} s: {details}", summary=True)
