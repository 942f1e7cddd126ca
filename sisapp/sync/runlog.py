"""The record of a running sync as the admin pages see it: progress, heartbeat, log.

Writes go through their own short transactions on a separate connection, never the
sync's data transaction, so the page sees progress while the sync reads, and a rolled
back apply never takes the log of what went wrong with it. Writes are throttled (at
most once per ``interval`` seconds) because a district has a million records.

The log is bounded: the first ``HEAD_LINES`` lines are kept whatever their level, after
that only warnings and errors, up to ``MAX_LINES``; summary lines always go in. What was
dropped is counted in ``SyncRun.log_truncated``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import insert, select, update

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncRun
from sisapp.models.types import utcnow

logger = logging.getLogger(__name__)

HEAD_LINES = 2500
MAX_LINES = 5000
MAX_MESSAGE = 1000


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


class RunRecorder:
    """Progress, heartbeat, cancel checks and log flushes for one run."""

    def __init__(
        self,
        run_id: int,
        log: RunLog,
        interval: float = 1.0,
        on_progress: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id = run_id
        self.log = log
        self.interval = interval
        self.on_progress = on_progress
        self.clock = clock
        self.phase = "starting"
        self.done = 0
        self.total = 0
        self.records = 0
        self.paused = False  # while the apply transaction holds SQLite's write lock
        self._last_write = float("-inf")
        self._last_cancel_check = float("-inf")
        self._cancelled = False
        self._cancel_lock = threading.Lock()
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
        return {
            "phase": self.phase,
            "progress_done": self.done,
            "progress_total": self.total,
            "records_read": self.records,
        }

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
        """``SyncRun.cancel_requested``, re-read from the database at most once per interval."""
        if self._cancelled:
            return True
        with self._cancel_lock:
            now = self.clock()
            if now - self._last_cancel_check < self.interval:
                return self._cancelled
            self._last_cancel_check = now
            self._cancelled = self.read_cancel()
        return self._cancelled

    def read_cancel(self) -> bool:
        try:
            with self._engine.connect() as conn:
                return bool(
                    conn.scalar(select(SyncRun.cancel_requested).where(SyncRun.id == self.run_id))
                )
        except Exception:  # noqa: BLE001 - an unreadable flag is not a cancel
            logger.warning("could not read cancel flag of sync run %s", self.run_id, exc_info=True)
            return False
