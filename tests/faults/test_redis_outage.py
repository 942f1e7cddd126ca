"""Redis gone for a while: the scheduler process rides it out and resumes its work.

The scheduler runs as a real `flask scheduler` process against a redis-server of the
test's own, which is killed (losing everything, as a Redis without persistence does)
and started again on the same port.
"""

from __future__ import annotations

import socket
import time

import pytest
from rq_scheduler import Scheduler

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import Region, SyncRun, SyncStatus
from sisapp.services import sync_runs
from tests.helpers.faults import worker
from tests.helpers.processes import output, wait_for


def _dispatch_ids(url: str, queue_name: str) -> set[str]:
    from redis import Redis

    with Redis.from_url(url) as conn:
        jobs = Scheduler(queue_name=queue_name, connection=conn).get_jobs()
        return {job.id for job in jobs if job.origin == queue_name and "dispatch" in job.id}


def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


@pytest.mark.slow
def test_scheduler_rides_out_a_redis_outage_and_resumes(app, own_redis, processes, queue_name):
    proc = processes.flask(
        "scheduler",
        SISAPP_SCHEDULER_INTERVAL="1",
        SISAPP_REDIS_SOCKET_TIMEOUT="1",
        SISAPP_REDIS_SOCKET_CONNECT_TIMEOUT="1",
    )
    _wait(lambda: len(_dispatch_ids(own_redis.url, queue_name)) == len(Region))

    own_redis.stop()
    time.sleep(6)  # several rounds, heartbeats and lock attempts meet a dead Redis
    assert proc.poll() is None, output(proc)
    assert "Redis is unreachable" in output(proc)

    own_redis.start()  # empty: the schedule it held is gone
    _wait(lambda: len(_dispatch_ids(own_redis.url, queue_name)) == len(Region))
    assert proc.poll() is None, output(proc)
    _wait(lambda: "Redis is reachable again" in output(proc), timeout=10)


@pytest.fixture
def stalled_redis(app):
    """A listener that accepts connections and never answers: a hung Redis."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(16)
    url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    app.config.update(REDIS_URL=url, REDIS_SOCKET_TIMEOUT=1, REDIS_SOCKET_CONNECT_TIMEOUT=1)
    yield url
    listener.close()
    queue._connections.pop(url, None)


def test_a_stalled_redis_answers_the_sync_button_within_the_timeout(
    app, synced, stalled_redis, auth_client, csrf_token
):
    started = time.monotonic()
    pressed = auth_client.post(
        f"/sis-integration/{synced.id}/sync",
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
    )
    assert time.monotonic() - started < 10  # bounded by the socket timeout, not hung
    html = pressed.get_data(as_text=True)
    assert pressed.status_code == 200 and 'data-testid="error-code">JB302<' in html


@pytest.mark.slow
def test_an_idle_worker_rides_out_a_redis_outage_and_runs_the_next_sync(
    app, synced, own_redis, processes, queue_name
):
    proc = worker(processes, queue_name, burst=False)
    _wait(lambda: "Listening on" in output(proc) or "listening on" in output(proc).lower())

    own_redis.stop()
    time.sleep(5)  # the live worker meets a dead Redis for a while
    assert proc.poll() is None, output(proc)
    own_redis.start()  # empty: the worker's registration is gone with everything else

    run, created = sync_runs.request_sync(synced)
    assert created
    run = wait_for(lambda: _ended(run.id), timeout=90)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert proc.poll() is None
    assert "Redis" in output(proc)  # it said so in its log while Redis was gone


def _ended(run_id: int):
    run = db.session.get(SyncRun, run_id)
    db.session.refresh(run)
    return run if not run.status.is_active else None


@pytest.mark.slow
def test_a_worker_started_while_redis_is_down_waits_for_it_and_runs_the_next_sync(
    app, synced, own_redis, processes, queue_name
):
    """RQ rides out an outage only in its blocking dequeue; met at start-up (or at any
    other step of its loop) it quit. The worker now waits for Redis and starts again."""
    own_redis.stop()
    proc = worker(processes, queue_name, burst=False)
    _wait(lambda: "Redis is unreachable" in output(proc) or proc.poll() is not None)
    time.sleep(3)
    assert proc.poll() is None, output(proc)

    own_redis.start()
    _wait(lambda: "Redis is reachable" in output(proc))
    run, created = sync_runs.request_sync(synced)
    assert created
    run = wait_for(lambda: _ended(run.id), timeout=90)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert proc.poll() is None, output(proc)


@pytest.mark.slow
def test_an_idle_worker_stops_on_sigterm_and_is_not_started_again(app, own_redis, processes, queue_name):  # fmt: skip
    """The restart on a Redis error must not undo a shutdown that was asked for."""
    import signal

    proc = worker(processes, queue_name, burst=False)
    _wait(lambda: "Listening on" in output(proc) or "listening on" in output(proc).lower())
    time.sleep(1)  # past its start-up clean-up, waiting for a job
    proc.send_signal(signal.SIGTERM)
    _wait(lambda: proc.poll() is not None, timeout=15)
    assert proc.returncode == 0, output(proc)
    assert "starts again" not in output(proc)
