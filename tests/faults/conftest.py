"""Fixtures of the fault suite: a demo SIS district, its directory, syncs in the
foreground or in real worker processes, and full snapshots of what a sync stores.

Worker processes, their queue and the Redis clean-up come from tests/jobs/conftest.py
(`processes`, `queue_name`, `redis_conn`, `app_config`); the snapshot of the synced
tables from tests/sync/conftest.py. Every fault test compares `stored_state()` before
and after: the synced tables, the integration's last_sync_at and settings the sync
writes, and the directory (which a sync never changes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

import tests.jobs.conftest as job_fixtures
from sisapp import queue
from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import DirectoryUser, OneRosterIntegration, SyncLogLine, SyncRun, SyncStatus
from sisapp.services.directory import import_directory_csv
from sisapp.services.integrations import IntegrationData, create_integration
from sisapp.services.sync_sweep import sweep_dead_runs
from sisapp.sync import SyncEnvironment, run_sync
from tests.helpers.redis_server import RedisServer
from tests.sync.conftest import counts, leftover_stage_tables, snapshot

CLIENT_ID, CLIENT_SECRET = "fault-client", "fault-secret-5Kq9-never-shown"
HOOK_RUNNER = "tests.faults.hooks:run_sync"
COUNT_KEYS = ("unmatched_users", "matched_students", "matched_teachers", "imported_classes")

# Fixtures shared with the job tests: the queue, its Redis clean-up, the app's config.
queue_name = job_fixtures.queue_name
redis_conn = job_fixtures.redis_conn
app_config = job_fixtures.app_config


@pytest.fixture
def job_config():
    """Workers run the real engine through the test hook (a no-op unless told to pause)."""
    return {"SYNC_RUNNER": HOOK_RUNNER, "SYNC_PAGE_SIZE": 100, "SYNC_CONCURRENCY": 4}


@pytest.fixture
def district_spec():
    return DistrictSpec(schools=2, students=200, seed=5)


@pytest.fixture
def district(district_spec):
    return generate_district(district_spec)


@pytest.fixture
def sis(district):
    server = DemoSISServer(district, client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def box(app):
    return SecretBox(app.config["ENCRYPTION_KEY"])


@pytest.fixture
def directory(device, district, tmp_path):
    path = tmp_path / "directory.csv"
    district.write_directory_csv(path)
    import_directory_csv(device, path.read_text())
    return device


@pytest.fixture
def new_integration(directory, sis, box):
    """Create an integration of the device on the demo SIS (OAuth 2 unless told)."""

    def make(name: str = "Demo SIS", oauth1: bool = False, **options):
        data = IntegrationData(
            name=name,
            sis_vendor="other",
            endpoint_url=sis.root_url,
            token_url=None if oauth1 else sis.token_url,
            client_id=CLIENT_ID,
            client_secret=options.pop("secret", CLIENT_SECRET),
            **options,
        )
        return create_integration(directory.id, data, box)

    return make


@pytest.fixture
def integration(new_integration):
    return new_integration()


@pytest.fixture
def sync_now(box):
    """Run one sync of an integration in this process; returns the finished run."""

    def run(integration, full: bool = False, **settings) -> SyncRun:
        record = SyncRun(integration_id=integration.id, device_id=integration.device_id, full=full)
        db.session.add(record)
        db.session.commit()
        values = {"box": box, "allow_private": True, "page_size": 100, "concurrency": 4}
        values["client_options"] = {"backoff_base": 0.01, "backoff_max": 0.2}
        values.update(settings)
        return run_sync(record.id, SyncEnvironment(**values))

    return run


@pytest.fixture
def synced(integration, sync_now):
    """The integration after one good sync (the "last good data" faults must keep)."""
    run = sync_now(integration)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    return integration


def stored_state(integration_id: int) -> dict:
    """Everything a sync may write for the integration, as comparable plain values."""
    db.session.rollback()  # read what other processes committed
    state = snapshot(integration_id)
    integration = db.session.get(OneRosterIntegration, integration_id)
    state["integration"] = (
        integration.last_sync_at,
        integration.needs_sync,
        json.dumps(integration.schools, sort_keys=True),
        integration.detected_version,
        integration.detected_auth,
        integration.allow_large_removals,
    )
    users = db.session.execute(
        select(
            DirectoryUser.email,
            DirectoryUser.given_name,
            DirectoryUser.family_name,
            DirectoryUser.kind,
            DirectoryUser.source,
        ).where(DirectoryUser.device_id == integration.device_id)
    )
    state["directory_user"] = sorted(tuple(row) for row in users)
    return state


def synced_data(integration_id: int) -> dict:
    """The synced tables without the read times (for comparing two integrations)."""
    db.session.rollback()
    data = snapshot(integration_id)
    data["sis_org"] = [row[:2] for row in data["sis_org"]]  # slice_read_at: when read
    return data


def sweep() -> list[SyncRun]:
    """The sweep as the scheduler runs it: in a fresh transaction (this test's session
    may hold an old SQLite read snapshot from before the worker's writes)."""
    db.session.rollback()
    return sweep_dead_runs()


def staged_rows() -> int:
    """Staging tables left on any connection (a finished, failed or killed run leaves none)."""
    return leftover_stage_tables()


def detail_counts(run: SyncRun) -> dict:
    return {key: value for key, value in counts(run).items() if key in COUNT_KEYS}


def expected(district, **options) -> dict:
    return {k: v for k, v in district.expected_counts(**options).items() if k in COUNT_KEYS}


def log_lines(run_id: int) -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(SyncLogLine.message).where(SyncLogLine.run_id == run_id).order_by(SyncLogLine.id)
        )
    )


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


@pytest.fixture
def pause(tmp_path):
    return lambda point: Pause(tmp_path, point)


def worker(processes, queue_name: str, *, burst: bool = True, **env):
    """A `flask worker` named after the queue, so Redis clean-up finds its keys too."""
    n = len(processes.procs)
    args = ["worker", "--name", f"{queue_name}-w{n}"]
    return processes.flask(*args, *(["--burst"] if burst else []), **env)


@pytest.fixture
def processes(app, tmp_path, redis_conn, queue_name):
    """tests/jobs' subprocess helper; also drops this test's dead workers from RQ's
    global worker set (their own keys carry the queue name and go with redis_conn)."""
    procs = job_fixtures.Processes(app, tmp_path)
    yield procs
    procs.kill_all()
    for member in redis_conn.smembers("rq:workers"):
        if queue_name.encode() in member:
            redis_conn.srem("rq:workers", member)


@pytest.fixture
def own_redis(app, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    app.config["REDIS_URL"] = server.url  # this app and the workers it starts
    yield server
    server.stop()
    queue._connections.pop(server.url, None)
