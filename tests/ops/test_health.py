"""/healthz and /readyz: what a load balancer sees when the database, Redis or the
workers go away and come back. Real parts: a redis-server of the test's own, the
test's SQLite file or PostgreSQL database behind a forwarder that can be cut."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy.engine import make_url

from sisapp import create_app
from sisapp.extensions import db
from tests.helpers.app import test_config as _test_config
from tests.helpers.ops import BlackHole, Forwarder, register_worker

ON_POSTGRES = bool(os.environ.get("SISAPP_TEST_DATABASE_URL"))


def ready(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def assert_nothing_sensitive(body: dict, app) -> None:
    text = repr(body)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    for secret in (app.config["REDIS_URL"], str(url.port or ""), url.host, url.database):
        if secret and len(str(secret)) > 3:
            assert str(secret) not in text


def test_healthz_answers_without_sign_in_or_dependencies(tmp_path):
    config = _test_config(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")
    config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    app = create_app(config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_ok_with_database_redis_and_a_live_worker(app, client, own_redis):
    status, body = ready(client)
    assert status == 503
    assert body == {
        "database": "ok",
        "redis": "ok",
        "workers": "none seen recently",
        "status": "unavailable",
    }
    register_worker(app)
    status, body = ready(client)
    assert status == 200, body
    assert body == {"database": "ok", "redis": "ok", "workers": 1, "status": "ok"}


def test_a_worker_silent_longer_than_the_setting_is_not_live(app, client, own_redis):
    app.config["WORKER_HEARTBEAT_MAX_AGE"] = 60
    register_worker(app, heartbeat_age=90)
    assert ready(client) == (
        503,
        {"database": "ok", "redis": "ok", "workers": "none seen recently", "status": "unavailable"},
    )
    register_worker(app, heartbeat_age=30)
    assert ready(client)[1]["workers"] == 1


def test_readyz_503_while_redis_is_stopped_and_200_when_it_returns(app, client, own_redis):
    register_worker(app)
    assert ready(client)[0] == 200
    own_redis.stop()
    started = time.monotonic()
    status, body = ready(client)
    assert status == 503
    assert body == {
        "database": "ok",
        "redis": "unreachable",
        "workers": "unknown",
        "status": "unavailable",
    }
    assert time.monotonic() - started < 2
    assert_nothing_sensitive(body, app)
    own_redis.start()
    # A Redis without persistence forgot the workers; they register again when they restart.
    register_worker(app)
    assert ready(client) == (200, {"database": "ok", "redis": "ok", "workers": 1, "status": "ok"})


def test_a_redis_that_never_answers_times_out_within_the_setting(app, client, own_redis):
    hole = BlackHole()
    try:
        app.config["REDIS_URL"] = f"redis://127.0.0.1:{hole.port}/0"
        started = time.monotonic()
        status, body = ready(client)
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    assert status == 503 and body["redis"] == "timeout" and body["database"] == "ok"
    assert elapsed < app.config["HEALTH_CHECK_TIMEOUT"] * 2 + 1


@pytest.fixture
def db_app(tmp_path, own_redis, app_config):
    """A second app on a database the test controls, sharing the test's own Redis."""

    def make(url: str):
        other = create_app(_test_config(url, **app_config, REDIS_URL=own_redis.url))
        made.append(other)
        return other

    made: list = []
    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def test_readyz_503_when_the_sqlite_file_cannot_be_opened_and_200_once_it_can(
    app, db_app, tmp_path
):
    folder = tmp_path / "data"
    other = db_app(f"sqlite:///{folder / 'sisapp.db'}")
    register_worker(other)
    client = other.test_client()
    status, body = ready(client)
    assert status == 503
    assert body == {"database": "unreachable", "redis": "ok", "workers": 1, "status": "unavailable"}
    assert_nothing_sensitive(body, other)
    folder.mkdir()
    assert ready(client) == (200, {"database": "ok", "redis": "ok", "workers": 1, "status": "ok"})


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only (SISAPP_TEST_DATABASE_URL)")
def test_readyz_503_while_postgresql_is_unreachable_and_200_when_it_returns(app, db_app):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    forwarder = Forwarder((url.host or "127.0.0.1", url.port or 5432)).start()
    try:
        other = db_app(url.set(port=forwarder.port).render_as_string(hide_password=False))
        register_worker(other)
        client = other.test_client()
        assert ready(client)[0] == 200  # a pooled connection now exists through the forwarder
        forwarder.stop()
        status, body = ready(client)
        assert status == 503
        assert body == {
            "database": "unreachable",
            "redis": "ok",
            "workers": 1,
            "status": "unavailable",
        }
        assert_nothing_sensitive(body, other)
        forwarder.start()
        assert ready(client) == (
            200,
            {"database": "ok", "redis": "ok", "workers": 1, "status": "ok"},
        )
    finally:
        forwarder.stop()


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only (SISAPP_TEST_DATABASE_URL)")
def test_a_postgresql_that_never_answers_times_out_within_the_setting(app, db_app):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    hole = BlackHole()
    try:
        other = db_app(url.set(port=hole.port).render_as_string(hide_password=False))
        register_worker(other)
        started = time.monotonic()
        status, body = ready(other.test_client())
        elapsed = time.monotonic() - started
    finally:
        hole.close()  # the probe still waiting gets a reset and ends
    assert status == 503 and body["database"] == "timeout" and body["redis"] == "ok"
    assert elapsed < other.config["HEALTH_CHECK_TIMEOUT"] + 1.5


def test_readyz_counts_a_real_flask_worker(app, client, own_redis, processes):
    proc = processes.worker(burst=False, REDIS_URL=own_redis.url)
    deadline = time.monotonic() + 30
    while ready(client)[0] != 200:
        assert proc.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, ready(client)
        time.sleep(0.2)
    assert ready(client)[1]["workers"] == 1
    processes.kill(proc)
