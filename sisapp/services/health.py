"""Is this deployment ready to serve: database, Redis and a live RQ worker.

Each check answers within ``HEALTH_CHECK_TIMEOUT`` seconds and reports only a word
("ok", "unreachable", "timeout"), never a URL, host or exception text: /readyz is
public. Used by the /readyz view and by the metrics collector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from sqlalchemy import text
from sqlalchemy.engine import Engine

from sisapp import queue

log = logging.getLogger(__name__)


# At most this many database checks may hang at once; later ones answer "timeout" at once.
_DB_CHECK_SLOTS = threading.BoundedSemaphore(2)
_redis_clients: dict[tuple[str, float], Redis] = {}
_redis_lock = threading.Lock()


def check_timeout(config: Mapping) -> float:
    return float(config.get("HEALTH_CHECK_TIMEOUT") or 2.0)


def redis_client(config: Mapping) -> Redis:
    """A Redis client with short socket timeouts (the jobs' client may block for minutes)."""
    url = queue.redis_url_of(config)
    timeout = check_timeout(config)
    with _redis_lock:
        client = _redis_clients.get((url, timeout))
        if client is None:
            client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
            _redis_clients[(url, timeout)] = client
    return client


def queue_names(config: Mapping) -> list[str]:
    """The RQ queues this deployment's workers listen on."""
    return [queue.queue_name_of(config)]


def check_database(engine: Engine, timeout: float) -> str:
    """ "ok", "unreachable" or "timeout" for a SELECT 1 on a fresh or pooled connection.

    The query runs in a daemon thread so a database that swallows packets cannot hold
    the request (or the load balancer's probe) longer than ``timeout``.
    """
    if not _DB_CHECK_SLOTS.acquire(blocking=False):
        return "timeout"
    outcome: list[str] = []

    def probe() -> None:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            outcome.append("ok")
        except Exception as exc:
            log.warning("readiness: database check failed (%s)", type(exc).__name__)
            outcome.append("unreachable")
        finally:
            _DB_CHECK_SLOTS.release()

    thread = threading.Thread(target=probe, name="readyz-database", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else "timeout"


def check_redis(connection: Redis) -> str:
    try:
        connection.ping()
    except RedisError as exc:
        log.warning("readiness: Redis check failed (%s)", type(exc).__name__)
        return "timeout" if "Timeout" in type(exc).__name__ else "unreachable"
    return "ok"


def live_workers(connection: Redis, names: list[str], max_age: float) -> int:
    """RQ workers on our queues whose last heartbeat is newer than ``max_age`` seconds."""
    since = datetime.now(UTC) - timedelta(seconds=max_age)
    seen: set[str] = set()
    for name in names:
        for worker in Worker.all(queue=Queue(name, connection=connection)):
            beat = worker.last_heartbeat
            if beat is not None and beat.tzinfo is None:
                beat = beat.replace(tzinfo=UTC)
            if beat is not None and beat >= since:
                seen.add(worker.name)
    return len(seen)


def readiness(engine: Engine, config: Mapping) -> tuple[bool, dict]:
    """(ready, body): each dependency's state in words, and the live worker count."""
    timeout = check_timeout(config)
    body: dict = {"database": check_database(engine, timeout)}
    connection = redis_client(config)
    body["redis"] = check_redis(connection)
    workers = 0
    if body["redis"] == "ok":
        try:
            workers = live_workers(
                connection, queue_names(config), float(config["WORKER_HEARTBEAT_MAX_AGE"])
            )
        except RedisError:
            body["redis"] = "unreachable"
    if body["redis"] != "ok":
        body["workers"] = "unknown"
    else:
        body["workers"] = workers or "none seen recently"
    ready = body["database"] == "ok" and body["redis"] == "ok" and workers > 0
    body["status"] = "ok" if ready else "unavailable"
    return ready, body
