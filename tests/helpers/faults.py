"""The fault suite's workers: its SIS credentials, a worker process on the test's
queue, the pause points of tests/faults/hooks.py, and the sweep as the scheduler runs it."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from sisapp.extensions import db
from sisapp.models import SyncRun
from sisapp.services import sync_runs
from sisapp.services.sync_sweep import sweep_dead_runs
from tests.helpers.sync_state import stored_state

CLIENT_ID, CLIENT_SECRET = "fault-client", "fault-secret-5Kq9-never-shown"
HOOK_RUNNER = "tests.faults.hooks:run_sync"


def sweep(now: datetime | None = None) -> list[SyncRun]:
    """The sweep as the scheduler runs it: in a fresh transaction (this test's session
    may hold an old SQLite read snapshot from before the worker's writes)."""
    db.session.rollback()
    return sweep_dead_runs(now)


class Pause:
    """The marker and go files of tests/faults/hooks.py for one worker."""

    def __init__(self, tmp_path: Path, point: str):
        self.point = point
        self.marker = tmp_path / f"pause-{point}.json"
        self.go_file = Path(str(self.marker) + ".go")

    def env(self) -> dict:
        return {"FAULT_PAUSE_AT": self.point, "FAULT_MARKER": str(self.marker)}

    def wait(self, proc=None, timeout: float = 60) -> dict:
        """Block until the run reached the pause point; returns the marker's JSON."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"worker ended before the pause point ({proc.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run never reached {self.point}")
            time.sleep(0.05)
        return json.loads(self.marker.read_text())

    def release(self) -> None:
        self.go_file.touch()

    def start_worker(self, processes, queue_name: str, **options):
        """A `worker` whose run waits at this point; returns once the run got there."""
        proc = worker(processes, queue_name, **options, **self.env())
        self.wait(proc)
        return proc


def request_changed_sync(integration, district) -> tuple[dict, SyncRun]:
    """Change a tenth of the district and request a sync: returns the stored state from
    before the sync and the queued run."""
    district.apply_changes(0.1)
    before = stored_state(integration.id)
    run, _ = sync_runs.request_sync(integration)
    return before, run


def worker(processes, queue_name: str, *, burst: bool = True, **env):
    """A `flask worker` named after the queue, so Redis clean-up finds its keys too."""
    n = len(processes.procs)
    args = ["worker", "--name", f"{queue_name}-w{n}"]
    return processes.flask(*args, *(["--burst"] if burst else []), **env)
