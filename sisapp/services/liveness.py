"""A running sync's "still alive" stamp in Redis, written by a thread of its work-horse.

The sweep reads it to tell a working horse (even one whose RQ worker was killed, or
whose database is briefly unreachable) from a dead one.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from flask import current_app
from redis.exceptions import RedisError

from sisapp import queue


@contextmanager
def keeping_alive(run_id: int) -> Iterator[None]:
    """Stamp the run's alive key in Redis from a thread while the runner works.

    The engine writes heartbeat_at with its progress, but the apply transaction of a big
    district holds SQLite's write lock for minutes and a read can sit in a SIS's long
    Retry-After waits: the row then says nothing, and the sweep would take a healthy run
    for dead and kill it. The thread dies with the work-horse, so a killed worker still
    falls silent and is swept (see sync_sweep and `alive_at`).
    """
    timeout = float(current_app.config["SYNC_HEARTBEAT_TIMEOUT"])
    interval = max(0.2, min(30.0, timeout / 4))
    connection, key = queue.redis_connection(), queue.alive_key(run_id)
    stop = threading.Event()

    def beat() -> None:
        while True:
            with suppress(RedisError):  # the sweep judges nothing without Redis either
                connection.set(key, repr(time.time()), ex=max(1, int(2 * timeout)))
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"sync-run-{run_id}-alive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with suppress(RedisError):
            connection.delete(key)


def alive_at(run_id: int) -> datetime | None:
    """When the run's work-horse last said it was alive (None: no stamp); may raise RedisError."""
    value = queue.redis_connection().get(queue.alive_key(run_id))
    try:
        return datetime.fromtimestamp(float(value), UTC) if value else None
    except ValueError:
        return None
