"""rq-scheduler glue: fire each region's Tue/Fri 6 PM and each device's planned start.

rq-scheduler's cron reads cron strings in the scheduler process's own zone and cannot
follow three regions' daylight saving, so each instant is computed with zoneinfo
(`regional`) and scheduled with `enqueue_at` under a deterministic job id:

- `dispatch-<region>-<slot>` at the region's 6 PM: plans the day (`planner`), starts the
  devices that are due and schedules `start-<integration>-<slot>` at each device's
  planned start, then schedules the region's next slot (re-planned from fresh history).
- Restarting the scheduler re-adds the same ids: nothing is duplicated or lost.
- A periodic catch-up dispatches every open window again (idempotent: a device's slot
  runs once, recorded as SyncRun.scheduled_for), so a scheduler (or Redis) that was down
  at 6 PM catches up when it returns, as long as the 24-hour window is still open.
- The sweep of dead runs runs every SWEEP_INTERVAL.

Keys are namespaced by queue name, so deployments (and test sessions) sharing one Redis
never fire each other's jobs.
"""

import logging
import signal
import time
from datetime import datetime

from rq_scheduler import Scheduler
from rq_scheduler.utils import to_unix
from sqlalchemy import select

from sisapp import jobs
from sisapp.extensions import db
from sisapp.models import Device, OneRosterIntegration, Region, SyncRun, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.schedule import planner, regional

log = logging.getLogger(__name__)


class SisScheduler(Scheduler):
    """rq-scheduler with its Redis keys namespaced by our queue name."""

    def __init__(self, queue_name: str, connection, interval: int = 15):
        super().__init__(queue_name=queue_name, connection=connection, interval=interval)
        self.scheduled_jobs_key = f"rq:scheduler:scheduled_jobs:{queue_name}"
        self.scheduler_lock_key = f"rq:scheduler_lock:{queue_name}"
        self.redis_scheduler_namespace_prefix = f"rq:scheduler_instance:{queue_name}:"

    def scheduled_ids(self) -> dict[str, float]:
        """Job id -> UTC epoch of everything waiting to fire."""
        rows = self.connection.zrange(self.scheduled_jobs_key, 0, -1, withscores=True)
        return {job_id.decode(): score for job_id, score in rows}


def make_scheduler(interval: int | None = None) -> SisScheduler:
    interval = int(interval or jobs.setting("SCHEDULER_INTERVAL"))
    return SisScheduler(jobs.queue_name(), jobs.redis_connection(), interval)


def dispatch_id(region: Region | str, slot: datetime) -> str:
    return jobs.job_id("dispatch", Region(region).value, jobs.slot_stamp(slot))


def start_id(integration_id: int, slot: datetime) -> str:
    return jobs.job_id("start", integration_id, jobs.slot_stamp(slot))


def _schedule(scheduler: SisScheduler, at: datetime, job_id: str, func, *args) -> bool:
    """enqueue_at under a fixed id; moves an existing one to `at`. True if newly added."""
    if job_id in scheduler:
        scheduler.connection.zadd(scheduler.scheduled_jobs_key, {job_id: to_unix(at)})
        return False
    scheduler.enqueue_at(
        at,
        func,
        *args,
        job_id=job_id,
        timeout=int(jobs.setting("DISPATCH_JOB_TIMEOUT")),
        job_result_ttl=86400,
        at_front=True,  # a few milliseconds of work: don't wait behind hours-long syncs
    )
    return True


def ensure_region_dispatches(
    scheduler: SisScheduler | None = None, now: datetime | None = None
) -> list[str]:
    """Schedule each region's next 6 PM dispatch (idempotent); returns the job ids."""
    scheduler = scheduler or make_scheduler()
    now = now or utcnow()
    ids = []
    for region in Region:
        slot = regional.next_slot(region, now)
        ids.append(dispatch_id(region, slot))
        _schedule(
            scheduler, slot, ids[-1], jobs.dispatch_region_job, region.value, slot.isoformat()
        )
    return ids


def dispatch_region(
    region: Region | str,
    slot: datetime,
    now: datetime | None = None,
    scheduler: SisScheduler | None = None,
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
        for planned in planner.day_plan(region, slot).values():
            if planned.region != region or planned.integration_id in dispatched:
                continue
            if planned.start <= now:
                started += start_scheduled_sync(planned.integration_id, slot) is not None
            else:
                _schedule(
                    scheduler,
                    planned.start,
                    start_id(planned.integration_id, slot),
                    jobs.start_scheduled_sync_job,
                    planned.integration_id,
                    slot.isoformat(),
                )
    ensure_region_dispatches(scheduler, max(now, slot))
    return started


def _dispatched(slot: datetime) -> set[int]:
    return set(
        db.session.scalars(select(SyncRun.integration_id).where(SyncRun.scheduled_for == slot))
    )


def start_scheduled_sync(integration_id: int, slot: datetime) -> int | None:
    """Queue the slot's run for one integration, once; returns the new run's id."""
    from sisapp.services.sync_runs import request_sync

    integration = db.session.get(OneRosterIntegration, integration_id)
    if integration is None or planner.already_dispatched(integration_id, slot):
        return None
    run, created = request_sync(integration, SyncTrigger.SCHEDULED, scheduled_for=slot)
    # A manual run in progress: the catch-up tries again once it has ended.
    return run.id if created else None


def catch_up(scheduler: SisScheduler | None = None, now: datetime | None = None) -> int:
    """Dispatch every region whose window is open now; returns runs started."""
    now = now or utcnow()
    started = 0
    for region in Region:
        slot = regional.open_slot(region, now)
        if slot is not None:
            started += dispatch_region(region, slot, now, scheduler)
    return started


# -- the scheduler process -----------------------------------------------------------------


def tick(scheduler: SisScheduler, now: datetime | None = None, *, catchup=True, sweep=True):
    """One round of the scheduler loop (the caller holds the scheduler lock)."""
    from sisapp.services.sync_sweep import sweep_dead_runs

    ensure_region_dispatches(scheduler, now)
    if catchup:
        catch_up(scheduler, now)
    if sweep:
        sweep_dead_runs(now)
    scheduler.enqueue_jobs()


def run_scheduler(burst: bool = False, interval: int | None = None, echo=print) -> None:
    """The `flask scheduler` loop: rq-scheduler's lock and moves, plus our planning."""
    scheduler = make_scheduler(interval)
    sweep_every = int(jobs.setting("SWEEP_INTERVAL"))
    catchup_every = int(jobs.setting("CATCHUP_INTERVAL"))
    last_sweep = last_catchup = float("-inf")
    signal.signal(signal.SIGTERM, _raise_exit)
    scheduler.register_birth()
    echo(f"Scheduler on queue {scheduler.queue_name} (every {scheduler._interval} s)")
    try:
        while True:
            started = time.monotonic()
            if scheduler.acquire_lock():
                try:
                    # CATCHUP_INTERVAL <= 0 turns catch-up off (tests of the job path).
                    do_catchup = 0 < catchup_every <= started - last_catchup
                    do_sweep = started - last_sweep >= sweep_every
                    tick(scheduler, catchup=do_catchup, sweep=do_sweep)
                    last_catchup = started if do_catchup else last_catchup
                    last_sweep = started if do_sweep else last_sweep
                except Exception:
                    log.exception("scheduler tick failed; trying again next round")
                    db.session.rollback()
                finally:
                    scheduler.remove_lock()
                    db.session.remove()
            if burst:
                break
            time.sleep(max(0.0, scheduler._interval - (time.monotonic() - started)))
    finally:
        scheduler.register_death()


def _raise_exit(*_):
    raise SystemExit(0)


def show_rows(now: datetime | None = None) -> list[tuple]:
    """(device, integration, region, planned UTC, planned local) for `schedule show`."""
    now = now or utcnow()
    rows = []
    query = (
        select(OneRosterIntegration)
        .join(Device, Device.id == OneRosterIntegration.device_id)
        .order_by(Device.region, Device.name, OneRosterIntegration.name)
    )
    for integration in db.session.scalars(query):
        at = planner.next_planned_start(integration, now)
        region = integration.device.region
        local = at.astimezone(regional.zone(region)) if at else None
        rows.append((integration.device.name, integration.name, region, at, local))
    return rows
