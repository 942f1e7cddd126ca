"""Redis restarted and the database briefly unavailable during a run.

The run ends in a defined state (with an error code when it did not apply), nothing is
half-applied, and the admin pages keep answering. Redis tests use a redis-server of
their own on a free port (never the shared one other tests use); restarting it loses
everything in it, as a Redis without persistence does.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.services import sync_runs
from sisapp.services.sync_sweep import sweep_dead_runs
from tests.helpers.faults import request_changed_sync, worker
from tests.helpers.processes import wait_for
from tests.helpers.sync_state import detail_counts, expected, staged_rows, stored_state, synced_data


def pages_answer(client, integration_id: int, run_id: int | None = None) -> None:
    """The admin pages a waiting admin looks at, read while the fault lasts."""
    urls = ["/sis-integration/", "/directory/", "/directory/classrooms"]
    urls.append(f"/sis-integration/{integration_id}/log")
    if run_id is not None:
        urls.append(f"/sis-integration/{integration_id}/runs/{run_id}/status")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def _ended(run_id: int) -> SyncRun | None:
    run = db.session.get(SyncRun, run_id)
    db.session.refresh(run)
    return run if not run.status.is_active else None


@pytest.mark.slow
def test_redis_restarted_while_a_sync_runs(
    app,
    synced,
    district,
    sis,
    own_redis,
    processes,
    queue_name,
    pause,
    auth_client,
    csrf_token,
    new_integration,
    sync_now,
):
    integration = synced
    before, run = request_changed_sync(integration, district)
    held = pause("read")
    proc = held.start_worker(processes, queue_name)

    def while_down():
        pages_answer(auth_client, integration.id, run.id)
        pressed = auth_client.post(
            f"/sis-integration/{integration.id}/sync",
            headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
        )  # the run is active: answered from the database alone
        assert pressed.status_code == 200 and "already in progress" in pressed.get_data(True)

    own_redis.restart(down_for=0.5, while_down=while_down)  # the job and its registries are gone
    held.release()
    run = wait_for(lambda: _ended(run.id), timeout=90)
    proc.wait(30)

    # The database row is the record: the run finished its work and says so.
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)
    assert stored_state(integration.id) != before and staged_rows() == 0
    clean = new_integration("Clean")
    assert sync_now(clean).status is SyncStatus.SUCCEEDED
    assert synced_data(integration.id) == synced_data(clean.id)
    assert sweep_dead_runs() == []
    again, created = sync_runs.request_sync(integration)  # the next Sync queues normally
    assert created and queue.get_queue().count == 1
    sync_runs.cancel_run(again)


def test_redis_restarted_while_a_run_is_queued_fails_it_coded_after_the_grace(
    app, synced, own_redis, auth_client, csrf_token
):
    integration = synced
    before = stored_state(integration.id)
    run, _ = sync_runs.request_sync(integration)
    own_redis.restart()  # its job is gone before any worker took it
    assert queue.get_queue().count == 0
    assert sweep_dead_runs() == []  # request_sync may still be queueing it
    ended = sweep_dead_runs(utcnow() + timedelta(seconds=61))
    assert [r.id for r in ended] == [run.id]
    assert (ended[0].status, ended[0].error_code) == (SyncStatus.FAILED, "JB303")
    assert stored_state(integration.id) == before

    own_redis.stop()  # Redis down: pressing Sync answers with a coded failure, not a 500
    pages_answer(auth_client, integration.id, run.id)
    pressed = auth_client.post(
        f"/sis-integration/{integration.id}/sync",
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
    )
    html = pressed.get_data(as_text=True)
    assert pressed.status_code == 200 and 'data-testid="error-code">JB302<' in html
    assert stored_state(integration.id) == before
    assert sweep_dead_runs() == []  # judges nothing while Redis is unreachable


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True], ids=["delta", "full"])
def test_database_briefly_unavailable_mid_run_fails_coded_and_changes_nothing(
    app, synced, district, processes, queue_name, pause, auth_client, sync_now, full
):
    """SQLite: another process holds the write lock longer than the busy timeout while
    the run stages its reads. PostgreSQL: the worker's connections are terminated in the
    middle of the apply transaction (a failover or a restart of the server); for a full
    read, while it merges school by school as it reads (the staging writer's thread
    meets the closed connection)."""
    sqlite = db.engine.dialect.name == "sqlite"
    if full and sqlite:
        pytest.skip("SQLite merges nothing while reading")
    integration = synced
    district.apply_changes(0.1)
    before = stored_state(integration.id)
    name = f"sisapp-fault-{uuid.uuid4().hex[:8]}"
    run, _ = sync_runs.request_sync(integration, full=full)
    held = pause("read" if sqlite else "merged" if full else "apply")
    proc = worker(
        processes, queue_name, FAULT_SQLITE_BUSY_MS=300, FAULT_APPLICATION_NAME=name, **held.env()
    )
    held.wait(proc)
    if sqlite:
        path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
        lock = sqlite3.connect(path, isolation_level=None, timeout=5)
        lock.execute("BEGIN EXCLUSIVE")
        held.release()
        time.sleep(2)  # the run's next staging commit meets the lock and gives up
        pages_answer(auth_client, integration.id, run.id)  # WAL: readers still read
        lock.execute("ROLLBACK")
        lock.close()
    else:
        with db.engine.connect() as conn:
            killed = conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            )
        assert killed >= 1
        held.release()
        pages_answer(auth_client, integration.id, run.id)

    run = wait_for(lambda: _ended(run.id), timeout=60)
    proc.wait(30)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "SY120"), run.error_message
    assert "database" in run.error_message
    assert stored_state(integration.id) == before
    assert staged_rows() == 0
    pages_answer(auth_client, integration.id, run.id)
    rerun = sync_now(integration)  # once the database is back, the next sync applies
    assert rerun.status is SyncStatus.SUCCEEDED
    assert detail_counts(rerun) == expected(district)


def test_pages_answer_right_after_postgresql_dropped_every_connection(app, admin):
    """A PostgreSQL restart or failover kills every pooled connection of the web process.
    Without pool_pre_ping the first request on each dead connection fails (a 500)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL connections only")
    from sqlalchemy import create_engine

    from sisapp import create_app
    from tests.helpers.app import login, test_config

    web = create_app(test_config(app.config["SQLALCHEMY_DATABASE_URI"]))  # production pool
    client = web.test_client()
    assert login(client, admin.email).status_code == 302
    assert client.get("/sis-integration/").status_code == 200
    killer = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    db.session.remove()
    db.engine.dispose()  # this test's own pool: only the web process is under test
    try:
        with killer.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert client.get("/sis-integration/").status_code == 200
    finally:
        killer.dispose()
        with web.app_context():
            db.engine.dispose()
