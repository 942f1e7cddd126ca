"""Fixtures for the job tests: a queue of their own, real worker processes, clean Redis.

Workers are `flask --app app worker --burst` subprocesses in their own process groups,
on the test's database (a file for SQLite, the session's database on PostgreSQL) and
queue; teardown kills their groups, takes the queue's jobs off rq-scheduler's schedule and
deletes every Redis key naming the queue.
"""

import pytest

from tests.helpers import queue_fixtures
from tests.helpers.processes import Processes

FAKE_RUNNER = "tests.jobs.fakes:run_sync"


# The queue, its Redis clean-up and the app config naming it (tests/helpers/queue_fixtures.py).
queue_name = queue_fixtures.queue_name
redis_conn = queue_fixtures.redis_conn
app_config = queue_fixtures.app_config


@pytest.fixture
def job_config():
    """Config shared by the test's app and its worker processes; extend per test."""
    return {"SYNC_RUNNER": FAKE_RUNNER, "SYNC_ENVIRONMENT": "none"}


@pytest.fixture
def processes(app, tmp_path, redis_conn):
    """The test's subprocesses (tests/helpers/processes.py), killed at teardown."""
    procs = Processes(app, tmp_path)
    yield procs
    procs.kill_all()
