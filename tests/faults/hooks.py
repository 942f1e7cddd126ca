"""A test-only sync runner: the real engine, held at a chosen point of a run.

Workers load it with ``SISAPP_SYNC_RUNNER="tests.faults.hooks:run_sync"`` (the app's own
SYNC_RUNNER setting). It wraps a function in the work-horse only (the client's
``enrollments`` or the engine's ``recompute``), so production code carries no test hook at
all, and then calls the real ``sisapp.sync.run_sync``. Without ``FAULT_PAUSE_AT`` it is
exactly the real runner.

Environment of the worker:

- ``FAULT_PAUSE_AT``: ``read`` holds the run in the middle of reading enrollments (users
  and classes staged in the run's temporary tables, nothing applied); ``apply`` holds it inside the apply
  transaction, after the mirror merge and the recompute, before the commit (the
  transaction then holds the whole new state, uncommitted). ``merged`` (PostgreSQL, a
  full read) holds the staging writer right after it merged the first school's slice
  into the mirror while later schools are still to be read; its marker carries the
  highest enrollment id the run's transaction sees (rows it merged, uncommitted).
- ``FAULT_MARKER``: a file written (JSON) when the run reaches the pause point. For
  ``apply`` it carries the synced tables as the apply transaction sees them, so a test can
  prove the kill interrupted real, uncommitted work. The runner then waits until
  ``FAULT_MARKER + ".go"`` exists (forever when the test kills the worker instead).
- ``FAULT_SQLITE_BUSY_MS``: SQLite busy timeout of the worker's connections (the app's is
  30 s; a lock test makes the same failure happen sooner).
- ``FAULT_APPLICATION_NAME``: PostgreSQL ``application_name`` of the worker's connections,
  so a test can terminate exactly the worker's backends.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sqlalchemy import event, func, select

import sisapp.sync.engine as engine
import sisapp.sync.mirror as mirror
from sisapp.extensions import db
from sisapp.models import SisEnrollment
from sisapp.oneroster import OneRosterClient
from sisapp.sync import run_sync as real_run_sync

READ_PAUSE_AT = 50  # enrollments into the read: users and classes are staged by then


def run_sync(run_id: int, env):
    """The real ``run_sync``, with the pause point and connection settings of the env."""
    _configure_connections()
    point = os.environ.get("FAULT_PAUSE_AT")
    if point == "apply":
        _wrap_recompute()
    elif point == "read":
        _wrap_enrollments()
    elif point == "merged":
        _wrap_school_merge()
    return real_run_sync(run_id, env)


def state_json(snapshot: dict) -> str:
    """A snapshot as comparable text (the test and the work-horse both produce it)."""
    return json.dumps(snapshot, default=str, sort_keys=True)


def _pause(info: dict) -> None:
    marker = Path(os.environ["FAULT_MARKER"])
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(marker)  # the test never reads a half-written marker
    go = Path(str(marker) + ".go")
    while not go.exists():
        time.sleep(0.05)


def _wrap_recompute() -> None:
    original = engine.recompute

    def recompute(conn, integration, *args, **kwargs):
        derived = original(conn, integration, *args, **kwargs)
        from tests.helpers.sync_state import snapshot  # the same rows the test compares

        # Read through the run's own connection: the apply transaction's uncommitted rows.
        _pause({"point": "apply", "state": state_json(snapshot(integration.id, on=conn))})
        return derived

    engine.recompute = recompute


def _wrap_enrollments() -> None:
    """Pause at the 50th enrollment the client yields, whichever way the engine reads them
    (per school or all at once): the client's API is what stays put while the engine
    changes."""
    original = OneRosterClient.enrollments
    paused = []

    def enrollments(self, *args, **kwargs):
        for n, record in enumerate(original(self, *args, **kwargs)):
            if n == READ_PAUSE_AT and not paused:
                paused.append(True)
                # The staging is in the run's own temporary tables, out of reach of this
                # thread and of the test: what the client has read so far shows the run
                # is deep in its read.
                _pause({"point": "read", "records_read": self.records_read})
            yield record

    OneRosterClient.enrollments = enrollments


def _wrap_school_merge() -> None:
    original = mirror.MergeWhileReading._merge_school

    def merge_school(self, conn, school_id):
        original(self, conn, school_id)
        if not getattr(self, "_paused", False):
            self._paused = True
            top = conn.scalar(select(func.max(SisEnrollment.id)))  # the run's own view
            _pause({"point": "merged", "school": school_id, "max_enrollment_id": top})

    mirror.MergeWhileReading._merge_school = merge_school


def _configure_connections() -> None:
    busy = os.environ.get("FAULT_SQLITE_BUSY_MS")
    name = os.environ.get("FAULT_APPLICATION_NAME")
    if not (busy or name):
        return
    dialect = db.engine.dialect.name

    @event.listens_for(db.engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cursor = dbapi_conn.cursor()
        if busy and dialect == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
        if name and dialect == "postgresql":
            cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
        cursor.close()
        if dialect == "postgresql":
            dbapi_conn.commit()

    db.engine.dispose(close=False)  # new connections from here on get the settings
