"""`flask --app app worker | scheduler | schedule show | sweep`: the background side.

Production runs any number of `flask --app app worker` processes (on any machines) and
one or more `flask --app app scheduler` (they share a lock) against the same REDIS_URL
and SISAPP_DATABASE_URL; see docs/operations.md.
"""

import logging
import signal
import time
from contextlib import suppress

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker

from sisapp import logging_setup, queue, tasks
from sisapp.extensions import db
from sisapp.scheduler import run_scheduler, show_fit, show_rows
from sisapp.services.sync_sweep import sweep_dead_runs

schedule_cli = AppGroup("schedule", help="The regional Tue/Fri 6 PM sync schedule.")

log = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def say(message: str, *, warning: bool = False) -> None:
    """A line of the long-running worker or scheduler: a log record when the logs are
    JSON (SISAPP_LOG_FORMAT=json: every line of the process parses), else plain text
    on stdout (stderr for a warning)."""
    if logging_setup.is_json(current_app.config):
        log.log(logging.WARNING if warning else logging.INFO, message)
    else:
        click.echo(message, err=warning)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Quit when the queue is empty (tests).")
@click.option(
    "--with-scheduler/--without-scheduler",
    default=False,
    help="Also run RQ's own scheduler (only needed for RQ retries with an interval).",
)
@click.option("--name", default=None, help="Worker name (default: RQ's host.pid).")
@click.option(
    "--queue",
    "queues",
    type=click.Choice(queue.WORKER_QUEUES),
    multiple=True,
    help="Listen on these queues only (repeatable; default: mail, then sync). "
    "`--queue mail --with-scheduler` makes a small worker that only sends email.",
)
@with_appcontext
def worker_command(
    burst: bool, with_scheduler: bool, name: str | None, queues: tuple[str, ...]
) -> None:
    """Run an RQ worker for sync and email jobs (sweeps dead runs first)."""
    app = current_app._get_current_object()
    tasks.set_worker_app(app)
    queues = queues or queue.WORKER_QUEUES
    try:
        for run in sweep_dead_runs() if "sync" in queues else ():
            say(f"Ended dead run {run.id} ({run.error_code})")
    except Exception as exc:  # the scheduler sweeps again soon; start working anyway
        say(f"Start-up sweep skipped: {type(exc).__name__}", warning=True)
        db.session.rollback()
    # Work-horses are forks: they must not inherit pooled connections.
    db.session.remove()
    db.engine.dispose()
    # A client of its own: RQ raises its socket timeout above the blocking dequeue's wait.
    connection = queue.new_redis_connection()
    listen = queue.worker_queues(connection, queues)
    options = {"with_scheduler": with_scheduler, "logging_level": "INFO"}
    if burst:
        Worker(listen, connection=connection, name=name).work(burst=True, **options)
        return
    while True:
        worker = None
        with suppress(*REDIS_DOWN):
            worker = Worker(listen, connection=connection, name=name)  # (asks Redis)
            worker.work(**options)
        if worker is not None and (worker._shutdown_requested_date or worker._stop_requested):
            return  # (a signal or RQ's shutdown command: RQ keeps these two to itself)
        # RQ rides out a Redis outage only inside its blocking dequeue. Met anywhere else
        # (its start-up registration and clean-up, the idle state it writes before each
        # dequeue, a heartbeat after a job), the error ends work() with "found an
        # unhandled exception, quitting". The worker waits for Redis and starts again.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (RQ's handlers would ask Redis)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _wait_for_redis(connection)
        if worker is not None:
            _forget(worker)


def _wait_for_redis(connection, pause: float = 2.0) -> None:
    """Return once Redis answers, at least ``pause`` seconds from now (a worker that
    quits at once for another reason does not spin)."""
    said = False
    while True:
        time.sleep(pause)
        try:
            connection.ping()
        except REDIS_DOWN as exc:
            if not said:
                say(f"Redis is unreachable ({type(exc).__name__}); the worker waits for it "
                    "and starts again", warning=True)  # fmt: skip
                said = True
            continue
        say("Redis is reachable; the worker starts again")
        return


def _forget(worker: Worker) -> None:
    """What RQ's teardown may have left undone when Redis was down: the worker that
    quit is marked dead (Redis may have kept its registration through the outage, and
    its name registers again) and its command channel's thread stops."""
    with suppress(*REDIS_DOWN):
        worker.register_death()
    with suppress(*REDIS_DOWN):
        worker.unsubscribe()


@click.command("scheduler")
@click.option("--burst", is_flag=True, help="Run one round and quit (tests).")
@click.option("--interval", type=int, default=None, help="Seconds between rounds.")
@with_appcontext
def scheduler_command(burst: bool, interval: int | None) -> None:
    """Fire the regional schedule: rq-scheduler plus planning, catch-up and the sweep."""
    run_scheduler(burst=burst, interval=interval, echo=say)


@schedule_cli.command("show")
def schedule_show() -> None:
    """Print each device's next planned sync, in UTC and in its region's time."""
    rows = show_rows()
    if not rows:
        click.echo("No integrations.")
    for device, integration, region, at, local in rows:
        when = (
            f"{at:%Y-%m-%d %H:%M} UTC  ({local:%a %Y-%m-%d %H:%M %Z} {region.timezone})"
            if at
            else "not planned"
        )
        click.echo(f"{device}\t{integration}\t{region.value}\t{when}")
    for region, slot, late, needed, capacity in show_fit() if rows else ():
        verdict = f"runs {late} past its 24-hour window" if late else "fits its 24-hour window"
        click.echo(
            f"{region.value}: the plan of {slot:%Y-%m-%d %H:%M} UTC {verdict} with {capacity} "
            f"workers (SYNC_WORKER_CAPACITY); fewest workers that fit the day: {needed}"
        )


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """End runs whose worker is gone (they show as failed with a JB3xx code)."""
    ended = sweep_dead_runs()
    for run in ended:
        click.echo(f"Ended run {run.id}: {run.status.value} {run.error_code}")
    click.echo(f"{len(ended)} {'run' if len(ended) == 1 else 'runs'} ended.")


def register(app) -> None:
    for command in (worker_command, scheduler_command, schedule_cli, sweep_command):
        app.cli.add_command(command)
