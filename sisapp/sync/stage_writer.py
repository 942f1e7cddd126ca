"""Staging inserts, done by a thread of their own while the read goes on.

The read is bound by one core: the read-ahead threads parse pages under the GIL. The
staging inserts could mostly run on the other core, but not from the thread that
consumes the records: every call that gives the GIL up (each statement, each commit)
then waits up to the interpreter's switch interval to get it back from the parsing
threads, and those waits were most of the staging cost (about 1.5 s of a
50,000-student sync). So the consumer only buffers rows (``StageWriter``) and hands
full batches to one writer thread (``StageSink``) that runs the statements on the run's
connection, in order. Its waits for the GIL overlap the read instead of stalling it.

The sink's queue holds a few batches: when the database falls behind, the consumer
waits, so memory stays bounded. Nothing else may use the run's connection while the
sink has work: ``drain`` waits for it (and commits) first. A failed statement is raised
in the consumer at its next hand-over, ``drain`` or ``close``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import orjson

from sisapp.extensions import db
from sisapp.oneroster import OneRosterClient
from sisapp.sync.runlog import RunRecorder

BATCH = 10_000  # rows per hand-over to the writer thread
TICK_EVERY = 500  # rows between progress checks while a batch fills
SINK_BUFFER = 3  # batches queued before the consumer waits
COMMIT_EVERY = 2.0  # seconds: staging is committed at most this often (and at a drain)


class StageSink:
    """One writer thread running staging statements on the run's connection, in order."""

    def __init__(self, connection) -> None:
        self._raw = connection.connection.dbapi_connection  # the driver's own connection
        self.sqlite = connection.dialect.name == "sqlite"
        self._queue: queue.Queue = queue.Queue(maxsize=SINK_BUFFER)
        self._error: BaseException | None = None
        self._stopping = False
        self._last_commit = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sync-stage-writer", daemon=True)
        self._thread.start()

    # --- the consumer's side -------------------------------------------------------------

    def put(self, job: Callable[[object], None]) -> None:
        """Queue ``job(cursor)``; waits while the queue is full."""
        self._raise()
        self._queue.put(job)

    def drain(self) -> None:
        """Wait until every queued statement ran, and commit them."""
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
        if job is _COMMIT:
            self._raw.commit()
            self._last_commit = time.monotonic()
            return
        job(cursor)
        if time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self._raw.commit()  # no read snapshot or transaction held for long
            self._last_commit = time.monotonic()


_COMMIT = object()


class StageWriter:
    """Buffers rows (tuples in ``columns`` order) for one staging table and hands them
    to the run's ``StageSink`` in batches.

    SQLite gets each batch as one JSON array, bound as one parameter, and unpacks it
    itself: ``INSERT ... SELECT json_extract(value, '$[0]'), ... FROM json_each(?)``
    (SQLite's JSON functions are built in since 3.38 and were in every usual build
    before). Binding is the
    GIL-holding part of an insert (a type check and a copy per value: 90,000 per batch
    of enrollments), and the sync's read is bound by the GIL; ``orjson`` writes the
    array in C in a tenth of the binding's time, and SQLite parses it inside one
    ``sqlite3_step``, without the GIL, on the core the parsing threads leave idle.
    PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg writes the rows in C): half the
    read's time went into the driver's ``executemany`` before.
    """

    def __init__(
        self, table, columns: tuple[str, ...], sink: StageSink, recorder: RunRecorder,
        client: OneRosterClient,
    ) -> None:  # fmt: skip
        self.table = table.name
        self.sink = sink
        self.sqlite = sink.sqlite
        self.columns = columns
        # Dates go in as SQLAlchemy's SQLite Date stores them (ISO text); the row
        # builders take this converter so no row is copied to convert it afterwards.
        self.day = _iso_day if self.sqlite else _same
        names = ", ".join(columns)
        if self.sqlite:
            values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
            self.sql = f"INSERT INTO {self.table} ({names}) SELECT {values} FROM json_each(?)"
        else:
            self.sql = f"COPY {self.table} ({names}) FROM STDIN"
        self.recorder = recorder
        self.client = client
        self.rows: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()
        elif len(self.rows) % TICK_EVERY == 0:
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

    def _job(self, rows: list[tuple]) -> Callable[[object], None]:
        sql = self.sql
        if self.sqlite:
            return lambda cursor: cursor.execute(sql, (orjson.dumps(rows).decode(),))

        def copy(cursor) -> None:
            with cursor.copy(sql) as stream:
                for row in rows:
                    stream.write_row(row)

        return copy


def _same(value):
    return value


def _iso_day(value):
    return value and value.isoformat()


def run_sink() -> StageSink:
    """A sink on the connection of the session (the run's own, see ``engine``)."""
    return StageSink(db.session.connection())
