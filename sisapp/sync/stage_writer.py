"""Write the staged rows from a thread of their own while the read goes on.

The read is bound by one core: the read-ahead threads parse pages under the GIL. The
staging inserts could mostly run on the other core, but not from the thread that
consumes the records: every call that gives the GIL up (each statement, each commit)
then waits up to the interpreter's switch interval to get it back from the parsing
threads. So the consumer only buffers rows (``StageWriter``) and hands full batches to
one writer thread (``StageSink``) that runs the statements on the run's connection, in
order. Its waits for the GIL overlap the read instead of stalling it.

The sink's queue holds a few batches: when the database falls behind, the consumer
waits, so memory stays bounded. Nothing else may use the run's connection while the
sink has work: ``drain`` waits for it (and commits) first. A failed statement is raised
in the consumer at its next hand-over, ``drain`` or ``close``.

Staging is committed as it goes (temporary tables: no snapshot held for the hours of a
read) until the sink is told to ``hold``: from then on its jobs may write synced data
(``mirror.MergeWhileReading``), so nothing more is committed until the apply commits.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from sisapp.oneroster import OneRosterClient
from sisapp.sync.dialect import bulk_rows_job, keep_transaction_open
from sisapp.sync.record import RunRecorder

BATCH = 10_000  # rows per hand-over to the writer thread
SINK_BUFFER = 3  # batches queued before the consumer waits
COMMIT_EVERY = 2.0  # seconds: staging is committed at most this often (and at a drain)


class StageSink:
    """One writer thread running staging statements on the run's connection, in order."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self._raw = connection.connection.dbapi_connection  # the driver's own connection
        self._queue: queue.Queue = queue.Queue(maxsize=SINK_BUFFER)
        self._error: BaseException | None = None
        self._stopping = False
        self._hold_asked = False  # (the consumer's side)
        self._holding = False  # (the writer's side: from the hold job on)
        self._last_commit = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sync-stage-writer", daemon=True)
        self._thread.start()

    # --- the consumer's side -------------------------------------------------------------

    def put(self, job: Callable[[object], None]) -> None:
        """Queue ``job(cursor)``; waits while the queue is full."""
        self._raise()
        self._queue.put(job)

    def hold(self) -> None:
        """Commit nothing from the next job on, and keep the transaction from being ended
        for idling (``dialect.keep_transaction_open``): the jobs after it belong to the
        apply's transaction (a ``drain`` still waits for them). Asking again changes
        nothing."""
        if not self._hold_asked:
            self._hold_asked = True
            self.put(_HOLD)

    def drain(self) -> None:
        """Wait until every queued statement ran, and commit them (unless holding)."""
        self._queue.put(_COMMIT)
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Finish the queued work (committed) and stop the thread."""
        try:
            self.drain()
        finally:
            self._stop()

    def abandon(self) -> None:
        """Stop without running what is still queued (the read failed)."""
        self._stopping = True
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # --- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        cursor = self._raw.cursor()
        try:
            while True:
                job = self._queue.get()
                try:
                    if job is None:
                        return
                    if self._error is None and not self._stopping:
                        self._do(job, cursor)
                except BaseException as exc:  # noqa: BLE001 - raised in the consumer
                    self._error = exc
                finally:
                    self._queue.task_done()
        finally:
            cursor.close()

    def _do(self, job, cursor) -> None:
        if job is _HOLD:
            self._holding = True
            keep_transaction_open(self.connection)
            return
        if job is _COMMIT:
            if not self._holding:
                self._raw.commit()
                self._last_commit = time.monotonic()
            return
        job(cursor)
        if not self._holding and time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self._raw.commit()  # no read snapshot or transaction held for long
            self._last_commit = time.monotonic()


_COMMIT = object()
_HOLD = object()


class StageWriter:
    """Buffers rows (tuples in ``columns`` order) for one staging table and hands them
    to the run's ``StageSink`` in batches, each as one statement (``dialect.bulk_rows_job``)."""

    def __init__(
        self, table, columns: tuple[str, ...], sink: StageSink, recorder: RunRecorder,
        client: OneRosterClient,
    ) -> None:  # fmt: skip
        self.sink = sink
        self._job = bulk_rows_job(sink.connection, table.name, columns)
        self.recorder = recorder
        self.client = client
        self.rows: list[tuple] = []
        self.count = 0
        self._pages_seen = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()
        elif self.client.pages_read != self._pages_seen:
            # A new page arrived: progress moves with each page of a slow SIS, not only
            # with each batch (the tick itself writes at most once per interval).
            self._pages_seen = self.client.pages_read
            self.tick()

    def tick(self) -> None:
        """Progress (records read so far) between flushes; written at most once per interval."""
        self.recorder.tick(records=self.client.records_read)

    def flush(self) -> None:
        """Hand the buffered rows to the writer thread."""
        if self.rows:
            rows, self.rows = self.rows, []
            self.count += len(rows)
            self.sink.put(self._job(rows))
        self.tick()
