"""rq-scheduler glue: fire each region's Tue/Fri 6 PM and each device's planned start.

rq-scheduler's cron reads cron strings in the scheduler process's own zone and cannot
follow three regions' daylight saving, so each instant is computed with zoneinfo
(`schedule.regional`) and scheduled with `enqueue_at` under a deterministic job id:

- `dispatch-<region>-<slot>` at the region's 6 PM: plans the day (`schedule.planner`),
  starts the devices that are due and schedules `start-<integration>-<slot>` at each
  device's planned start, then schedules the region's next slot (re-planned from fresh
  history).
- Restarting the scheduler re-adds the same ids: nothing is duplicated or lost.
- A periodic catch-up dispatches every open window again (idempotent: a device's slot
  runs once, recorded as SyncRun.scheduled_for), so a scheduler (or Redis) that was down
  at 6 PM catches up when it returns, as long as the 24-hour window is still open.
- The sweep of dead runs runs every SWEEP_INTERVAL.

rq-scheduler keeps one schedule for every queue on a Redis. Job ids carry the queue name,
each job's origin is its queue, and this scheduler only reads and moves jobs of its own
queue under a lock of its own queue, so deployments (and test sessions) sharing one Redis
never fire each other's jobs. Only rq-scheduler's public API is used.
"""

import logging
import signal
import time
from contextlib import suppress
from datetime import UTC, datetime

from flask import current_app
from redis.backoff import ExponentialBackoff
from redis.exceptions import LockError, RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq_scheduler import Scheduler
from sqlalchemy import select

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import Device, OneRosterIntegration, Region, SyncRun, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.schedule import planner, regional
from sisapp.schedule.full_reads import full_read_due
from sisapp.schedule.planner import PlanSettings
from sisapp.services.sync_runs import request_sync
from sisapp.services.sync_sweep import sweep_dead_runs

log = logging.getLogger(__name__)


def make_scheduler(interval: int | None = None) -> Scheduler:
    interval = int(interval or current_app.config["SCHEDULER_INTERVAL"])
    return Scheduler(
        queue_name=queue.queue_name(), connection=queue.redis_connection(), interval=interval
    )


def plan_settings() -> PlanSettings:
    return PlanSettings.from_config(current_app.config)


def scheduled_ids(scheduler: Scheduler) -> dict[str, float]:
    """Job id -> UTC epoch of everything of this queue waiting to fire."""
    return {
        job.id: at.replace(tzinfo=UTC).timestamp()
        for job, at in scheduler.get_jobs(with_times=True)
        if job.origin == scheduler.queue_name
    }


def enqueue_due(scheduler: Scheduler) -> int:
    """Move this queue's due jobs onto it (not other queues': see the module docstring)."""
    moved = 0
    for job in scheduler.get_jobs_to_queue():
        if job.origin == scheduler.queue_name:
            scheduler.enqueue_job(job)
            moved += 1
    return moved


def dispatch_id(region: Region | str, slot: datetime) -> str:
    return queue.job_id("dispatch", Region(region).value, queue.slot_stamp(slot))


def start_id(integration_id: int, slot: datetime) -> str:
    return queue.job_id("start", integration_id, queue.slot_stamp(slot))


def _schedule(scheduler: Scheduler, at: datetime, job_id: str, task: str, *args) -> bool:
    """enqueue_at under a fixed id; moves an existing one to `at`. True if newly added.

    A stored job that names another task path (an older release's) is written anew, so
    an upgrade that moves a task never leaves the schedule pointing at a missing module.
    """
    known = job_id in scheduler
    if known:
        with suppress(NoSuchJobError):
            job = Job.fetch(job_id, connection=scheduler.connection)
            if job.func_name == task:
                with suppress(ValueError):  # moved onto the queue meanwhile: it runs now
                    scheduler.change_execution_time(job, at)
                return False
    scheduler.enqueue_at(
        at,
        task,
        *args,
        job_id=job_id,
        timeout=int(current_app.config["DISPATCH_JOB_TIMEOUT"]),
        job_result_ttl=86400,
        at_front=True,  # a few milliseconds of work: don't wait behind hours-long syncs
    )
    return not known


def ensure_region_dispatches(
    scheduler: Scheduler | None = None, now: datetime | None = None
) -> list[str]:
    """Schedule each region's next 6 PM dispatch (idempotent); returns the job ids."""
    scheduler = scheduler or make_scheduler()
    now = now or utcnow()
    ids = []
    for region in Region:
        slot = regional.next_slot(region, now)
        ids.append(dispatch_id(region, slot))
        _schedule(
            scheduler, slot, ids[-1], queue.DISPATCH_REGION_TASK, region.value, slot.isoformat()
        )
    return ids


def dispatch_region(
    region: Region | str,
    slot: datetime,
    now: datetime | None = None,
    scheduler: Scheduler | None = None,
) -> int:
    """Start the region's due devices for `slot` and schedule the rest; returns runs started.

    Safe to call any number of times for the same slot (the region's job, the catch-up).
    """
    region = Region(region)
    now = now or utcnow()
    scheduler = scheduler or make_scheduler()
    started = 0
    if now >= slot + regional.WINDOW:
        log.warning("%s window of %s closed before it was dispatched", region.value, slot)
    else:
        dispatched = _dispatched(slot)
        record_fit(region, slot)
        for planned in planner.day_plan(region, slot, plan_settings()).values():
            if planned.region != region or planned.integration_id in dispatched:
                continue
            if planned.start <= now:
                started += start_scheduled_sync(planned.integration_id, slot) is not None
            else:
                _schedule(
                    scheduler,
                    planned.start,
                    start_id(planned.integration_id, slot),
                    queue.START_SCHEDULED_SYNC_TASK,
                    planned.integration_id,
                    slot.isoformat(),
                )
    ensure_region_dispatches(scheduler, max(now, slot))
    return started


def record_fit(
    region: Region, slot: datetime, fit: planner.DayFit | None = None, *, warn: bool = True
) -> planner.DayFit:
    """Work out whether `region`'s day of `slot` fits its window at SYNC_WORKER_CAPACITY,
    keep the figures in Redis for /metrics (a scrape reads them and never plans: planning
    10,000 integrations and finding the fewest workers takes seconds), and warn when the
    day does not fit. The figures expire (`fit_ttl`) when no scheduler renews them."""
    fit = fit or planner.day_fit(region, slot, plan_settings())
    late = fit.overflow[region]
    key = queue.schedule_fit_key(region.value)
    with queue.redis_connection().pipeline() as pipe:
        pipe.hset(
            key,
            mapping={
                "slot": slot.isoformat(),
                "overflow_seconds": late.total_seconds(),
                "workers_needed": fit.workers_needed,
                "capacity": fit.capacity,
                "recorded_at": utcnow().isoformat(),
            },
        )
        pipe.expire(key, fit_ttl())
        pipe.execute()
    if late and warn:
        log.warning(
            "%s: the planned day runs %s past its 24-hour window with %d workers; it needs %d "
            "(raise SYNC_WORKER_CAPACITY and add workers)",
            region.value, late, fit.capacity, fit.workers_needed,
        )  # fmt: skip
    return fit


def fit_ttl() -> int:
    """Seconds a recorded fit is kept: a few catch-up rounds (which renew it), at least an
    hour, so a stopped scheduler's figures vanish from /metrics instead of going stale."""
    return max(3600, 4 * int(current_app.config["CATCHUP_INTERVAL"]))


def day_fits(now: datetime, regions=tuple(Region)) -> dict[Region, tuple[datetime, planner.DayFit]]:
    """Each region's next (or open) slot and the fit of its day; regions sharing one day
    (the usual case: their windows are planned together) are planned once."""
    settings = plan_settings()
    by_day: dict[tuple, planner.DayFit] = {}
    fits = {}
    for region in regions:
        slot = regional.open_slot(region, now) or regional.next_slot(region, now)
        day = tuple(sorted(regional.day_windows(region, slot).items()))
        if day not in by_day:
            by_day[day] = planner.day_fit(region, slot, settings)
        fits[region] = (slot, by_day[day])
    return fits


def record_fits(now: datetime | None = None, regions=tuple(Region)) -> None:
    """Record (and warn about) the fit of each of `regions`' next or open day."""
    for region, (slot, fit) in day_fits(now or utcnow(), regions).items():
        record_fit(region, slot, fit)


def _dispatched(slot: datetime) -> set[int]:
    return set(
        db.session.scalars(select(SyncRun.integration_id).where(SyncRun.scheduled_for == slot))
    )


def start_scheduled_sync(integration_id: int, slot: datetime) -> int | None:
    """Queue the slot's run for one integration, once; returns the new run's id."""
    integration = db.session.get(OneRosterIntegration, integration_id)
    if integration is None or planner.already_dispatched(integration_id, slot):
        return None
    policy = current_app.config["SYNC_SCHEDULED_FULL_READ"]
    full = full_read_due(integration, slot, policy)
    run, created = request_sync(integration, SyncTrigger.SCHEDULED, full=full, scheduled_for=slot)
    # A manual run in progress: the catch-up tries again once it has ended.
    return run.id if created else None


def catch_up(scheduler: Scheduler | None = None, now: datetime | None = None) -> int:
    """Dispatch every region whose window is open now; returns runs started."""
    now = now or utcnow()
    started = 0
    for region in Region:
        slot = regional.open_slot(region, now)
        if slot is not None:
            started += dispatch_region(region, slot, now, scheduler)
    return started


# -- the scheduler process -----------------------------------------------------------------


def tick(scheduler: Scheduler, now: datetime | None = None, *, catchup=True, sweep=True):
    """One round of the scheduler loop (the caller holds the scheduler lock)."""
    now = now or utcnow()
    ensure_region_dispatches(scheduler, now)
    if catchup:
        catch_up(scheduler, now)  # records the fit of each open window's day
        record_fits(now, [r for r in Region if regional.open_slot(r, now) is None])
    if sweep:
        sweep_dead_runs(now)
    enqueue_due(scheduler)


def run_scheduler(burst: bool = False, interval: int | None = None, echo=print) -> None:
    """The `flask scheduler` loop: rq-scheduler's moves, plus our planning and sweep.

    A Redis outage does not end it: each round that meets one waits a growing back-off
    (redis-py's) and tries again, and the log says when Redis is gone and when it is back.
    """
    config = current_app.config
    interval = int(interval or config["SCHEDULER_INTERVAL"])
    scheduler = make_scheduler(interval)
    sweep_every = int(config["SWEEP_INTERVAL"])
    catchup_every = int(config["CATCHUP_INTERVAL"])
    last = {"sweep": float("-inf"), "catchup": float("-inf")}
    outage = RedisOutage(cap=float(config["REDIS_OUTAGE_BACKOFF_CAP"]))
    signal.signal(signal.SIGTERM, _raise_exit)
    echo(f"Scheduler on queue {scheduler.queue_name} (every {interval} s)")
    try:
        while True:
            started = time.monotonic()
            try:
                if not outage.registered:
                    with suppress(ValueError):  # still registered: Redis kept its keys
                        scheduler.register_birth()
                    outage.registered = True
                _round(scheduler, interval, started, sweep_every, catchup_every, last)
                outage.ended()
            except RedisError as exc:
                db.session.rollback()
                time.sleep(outage.failed(exc))
                continue
            if burst:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        with suppress(RedisError, ValueError):
            scheduler.register_death()


def _round(scheduler: Scheduler, interval: int, started, sweep_every, catchup_every, last):
    """One heartbeat and, under the queue's lock, one tick; RedisError goes to the caller."""
    scheduler.heartbeat()
    lock = scheduler.connection.lock(queue.scheduler_lock_key(), timeout=interval + 10)
    if not lock.acquire(blocking=False):
        return
    try:
        # CATCHUP_INTERVAL <= 0 turns catch-up off (tests of the job path).
        do_catchup = 0 < catchup_every <= started - last["catchup"]
        do_sweep = started - last["sweep"] >= sweep_every
        tick(scheduler, catchup=do_catchup, sweep=do_sweep)
        last["catchup"] = started if do_catchup else last["catchup"]
        last["sweep"] = started if do_sweep else last["sweep"]
    except RedisError:
        raise
    except Exception:
        log.exception("scheduler tick failed; trying again next round")
        db.session.rollback()
    finally:
        with suppress(LockError, RedisError):  # expired during a long round, or Redis gone
            lock.release()
        db.session.remove()


class RedisOutage:
    """Back-off and log lines while Redis is unreachable (one warning per outage)."""

    def __init__(self, cap: float):
        self.backoff = ExponentialBackoff(cap=cap, base=1)
        self.failures = 0
        self.since: float | None = None
        self.registered = False

    def failed(self, exc: Exception) -> float:
        self.failures += 1
        wait = self.backoff.compute(self.failures)
        if self.since is None:
            self.since = time.monotonic()
            self.registered = False  # a Redis that restarts empty forgets the scheduler
            log.warning("Redis is unreachable (%s); retrying with back-off", type(exc).__name__)
        else:
            log.info("Redis still unreachable; next try in %.0f s", wait)
        return wait

    def ended(self) -> None:
        if self.since is not None:
            log.warning("Redis is reachable again after %.0f s", time.monotonic() - self.since)
        self.failures, self.since = 0, None


def _raise_exit(*_):
    raise SystemExit(0)


def show_rows(now: datetime | None = None) -> list[tuple]:
    """(device, integration, region, planned UTC, planned local) for `schedule show`."""
    now = now or utcnow()
    settings = plan_settings()
    rows = []
    query = (
        select(OneRosterIntegration)
        .join(Device, Device.id == OneRosterIntegration.device_id)
        .order_by(Device.region, Device.name, OneRosterIntegration.name)
    )
    for integration in db.session.scalars(query):
        at = planner.next_planned_start(integration, now, settings=settings)
        region = integration.device.region
        local = at.astimezone(regional.zone(region)) if at else None
        rows.append((integration.device.name, integration.name, region, at, local))
    return rows


def show_fit(now: datetime | None = None) -> list[tuple]:
    """(region, slot, overflow, workers needed, capacity) of each region's next (or open)
    day for `schedule show`: does the plan fit the 24-hour window at this capacity?
    The figures are recorded for /metrics too, when Redis answers."""
    rows = []
    for region, (slot, fit) in day_fits(now or utcnow()).items():
        with suppress(RedisError):
            record_fit(region, slot, fit, warn=False)  # the command prints it
        rows.append((region, slot, fit.overflow[region], fit.workers_needed, fit.capacity))
    return rows
