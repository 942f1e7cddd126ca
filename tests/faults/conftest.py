"""Fixtures of the fault suite: a demo SIS district, its directory, syncs in the
foreground or in real worker processes, and full snapshots of what a sync stores.

The queue and its Redis clean-up come from tests/helpers/queue_fixtures.py, worker
processes from tests/helpers/processes.py, the snapshots from tests/helpers/sync_state.py.
Every fault test compares `stored_state()` before and after: the synced tables, the
integration's last_sync_at and settings the sync writes, and the directory (which a
sync never changes).
"""

from __future__ import annotations

import pytest

from sisapp import queue
from sisapp.demo_sis import DistrictSpec, generate_district
from sisapp.models import SyncStatus
from tests.helpers import queue_fixtures
from tests.helpers.demo_sis import add_integration, sync_in_foreground
from tests.helpers.faults import CLIENT_ID, CLIENT_SECRET, HOOK_RUNNER, Pause
from tests.helpers.processes import Processes
from tests.helpers.redis_server import RedisServer

# The queue, its Redis clean-up and the app config naming it (tests/helpers/queue_fixtures.py).
queue_name = queue_fixtures.queue_name
redis_conn = queue_fixtures.redis_conn
app_config = queue_fixtures.app_config


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
def sis_credentials():
    """The demo SIS's client id and secret (its `sis` and `directory` fixtures:
    tests/helpers/demo_sis_fixtures.py)."""
    return CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def new_integration(directory, sis, box):
    """Create an integration of the device on the demo SIS (OAuth 2 unless told)."""

    def make(name: str = "Demo SIS", oauth1: bool = False, **options):
        secret = options.pop("secret", CLIENT_SECRET)
        return add_integration(
            directory, sis, box, CLIENT_ID, secret, name=name, oauth1=oauth1, **options
        )

    return make


@pytest.fixture
def integration(new_integration):
    return new_integration()


@pytest.fixture
def sync_now(box):
    """Run one sync of an integration in this process; returns the finished run."""

    def run(integration, full: bool = False, **settings):
        values = {"box": box, "allow_private": True, "page_size": 100, "concurrency": 4}
        values["client_options"] = {"backoff_base": 0.01, "backoff_max": 0.2}
        values.update(settings)
        return sync_in_foreground(integration, full, values)

    return run


@pytest.fixture
def synced(integration, sync_now):
    """The integration after one good sync (the "last good data" faults must keep)."""
    run = sync_now(integration)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    return integration


@pytest.fixture
def pause(tmp_path):
    return lambda point: Pause(tmp_path, point)


@pytest.fixture
def processes(app, tmp_path, redis_conn, queue_name):
    """tests/helpers/processes.py's subprocesses; also drops this test's dead workers from
    RQ's global worker set (their own keys carry the queue name and go with redis_conn)."""
    procs = Processes(app, tmp_path)
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
