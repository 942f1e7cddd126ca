"""The queue: the Redis connection, the queue name, job ids, and putting a sync on the queue.

Services call this module; it imports none of them. A job names its task (sisapp.tasks)
by dotted path, so the queue need not import the tasks either. Every enqueue names an
explicit timeout: RQ's default (180 s) would kill a four-hour sync.
"""

import re
import uuid
from datetime import datetime

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry

# The RQ entry points, by the path a worker imports them from.
RUN_SYNC_TASK = "sisapp.tasks.run_sync_job"
DISPATCH_REGION_TASK = "sisapp.tasks.dispatch_region_job"
START_SCHEDULED_SYNC_TASK = "sisapp.tasks.start_scheduled_sync_job"
SEND_SYNC_EMAIL_TASK = "sisapp.tasks.send_sync_email_job"

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "sisapp-sync"

_connections: dict[str, Redis] = {}


def _config(app: Flask | None):
    return (app or current_app).config


def redis_url_of(config) -> str:
    """REDIS_URL of a config mapping; empty means the local default."""
    return config.get("REDIS_URL") or DEFAULT_REDIS_URL


def queue_name_of(config) -> str:
    return config.get("RQ_QUEUE") or DEFAULT_QUEUE


def mail_queue_name_of(config) -> str:
    """The email jobs' own queue: a backlog of hours-long syncs never holds up an email
    (workers take from it first, and a mail-only worker takes from nothing else)."""
    return f"{queue_name_of(config)}-mail"


def _redis_url(app: Flask | None) -> str:
    return redis_url_of(_config(app))


def new_redis_connection(app: Flask | None = None) -> Redis:
    """A Redis client with the configured timeouts, so a silent Redis fails fast."""
    config = _config(app)
    return Redis.from_url(
        _redis_url(app),
        socket_timeout=float(config["REDIS_SOCKET_TIMEOUT"]),
        socket_connect_timeout=float(config["REDIS_SOCKET_CONNECT_TIMEOUT"]),
        health_check_interval=int(config["REDIS_HEALTH_CHECK_INTERVAL"]),
    )


def redis_connection(app: Flask | None = None) -> Redis:
    """The process's shared client for REDIS_URL (its pool is safe across threads)."""
    url = _redis_url(app)
    if url not in _connections:
        _connections[url] = new_redis_connection(app)
    return _connections[url]


def queue_name(app: Flask | None = None) -> str:
    return queue_name_of(_config(app))


def get_queue(app: Flask | None = None, connection: Redis | None = None) -> Queue:
    return Queue(queue_name(app), connection=connection or redis_connection(app))


def get_mail_queue(app: Flask | None = None, connection: Redis | None = None) -> Queue:
    return Queue(mail_queue_name_of(_config(app)), connection=connection or redis_connection(app))


WORKER_QUEUES = ("mail", "sync")


def worker_queues(connection: Redis, which=WORKER_QUEUES) -> list[Queue]:
    """The queues a worker listens on, in the order it takes jobs: mail first, so an
    email waits at most for one worker to be free, never behind the queued syncs."""
    make = {"mail": get_mail_queue, "sync": get_queue}
    return [make[name](connection=connection) for name in WORKER_QUEUES if name in which]


def job_id(*parts) -> str:
    """A deterministic RQ job id (RQ allows letters, digits, `_` and `-` only)."""
    raw = "-".join(str(p) for p in ("sisapp", queue_name(), *parts))
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)


def slot_stamp(slot: datetime) -> str:
    return slot.strftime("%Y%m%dT%H%MZ")


def new_sync_job_id(run_id: int) -> str:
    """Unique even if a rebuilt database hands out the same run id again."""
    return job_id("run", run_id, uuid.uuid4().hex[:8])


def alive_key(run_id: int) -> str:
    """The Redis key a running sync's work-horse stamps while it lives (see sync_runs)."""
    return job_id("alive", run_id)


def schedule_fit_key(region: str) -> str:
    """The Redis hash where the scheduler keeps how a region's planned day fits its
    window (overflow seconds, workers needed): /metrics reads it instead of planning."""
    return job_id("fit", region)


def scheduler_lock_key() -> str:
    """The lock the `flask scheduler` processes of one queue share (one acts per round)."""
    return f"rq:scheduler_lock:{queue_name()}"


def enqueue_sync(run_id: int, job_id_: str | None = None) -> str:
    """Put run `run_id` on the queue; returns the job id (also stored on the run)."""
    config = _config(None)
    job = get_queue().enqueue(
        RUN_SYNC_TASK,
        run_id,
        job_id=job_id_ or new_sync_job_id(run_id),
        job_timeout=int(config["SYNC_JOB_TIMEOUT"]),
        result_ttl=int(config["SYNC_RESULT_TTL"]),
        failure_ttl=int(config["SYNC_FAILURE_TTL"]),
        description=f"sync run {run_id}",
    )
    return job.id


def enqueue_notification(run_id: int, admin_id: int, outcome: str) -> str:
    """Queue the email to one admin about run `run_id`, retried on MAIL_RETRY_INTERVALS.

    The job id is the same for the same run and admin, so the email is queued once.
    """
    config = _config(None)
    intervals = config["MAIL_RETRY_INTERVALS"]
    if isinstance(intervals, str | int):  # "60, 300" or 60 from the environment
        intervals = str(intervals).replace(",", " ").split()
    intervals = [int(seconds) for seconds in intervals]
    job = get_mail_queue().enqueue(
        SEND_SYNC_EMAIL_TASK,
        run_id,
        admin_id,
        outcome,
        job_id=job_id("mail", run_id, admin_id),
        job_timeout=int(config["MAIL_JOB_TIMEOUT"]),
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        result_ttl=int(config["SYNC_RESULT_TTL"]),
        failure_ttl=int(config["SYNC_FAILURE_TTL"]),
        description=f"email about sync run {run_id} to admin {admin_id}",
    )
    return job.id
