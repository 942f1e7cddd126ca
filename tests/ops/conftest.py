"""Fixtures of the operations tests: a redis-server of the test's own (stopped and
started at will), RQ workers registered on it, and TCP listeners that forward to the
real database or swallow every packet, so a database can vanish and come back."""

from __future__ import annotations

import pytest

import tests.jobs.conftest as job_fixtures
from tests.helpers.ops import TOKEN
from tests.helpers.redis_server import RedisServer

# Real `flask worker` processes and their clean-up come from tests/jobs.
processes = job_fixtures.processes
redis_conn = job_fixtures.redis_conn
queue_name = job_fixtures.queue_name


@pytest.fixture
def app_config(queue_name):
    """A queue of the test's own, so its worker and scheduler keys go with `redis_conn`."""
    return {"METRICS_TOKEN": TOKEN, "HEALTH_CHECK_TIMEOUT": 1.0, "RQ_QUEUE": queue_name}


@pytest.fixture
def own_redis(app, tmp_path):
    """A redis-server on a free port; the app's REDIS_URL points at it."""
    server = RedisServer(tmp_path)
    server.start()
    app.config["REDIS_URL"] = server.url
    yield server
    server.stop()
