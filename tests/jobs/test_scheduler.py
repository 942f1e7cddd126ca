"""rq-scheduler glue: deterministic ids, restarts, DST, catch-up, and a real fired dispatch."""

from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from rq_scheduler import Scheduler
from sqlalchemy import select

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import Region, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.schedule import planner
from sisapp.scheduler import (
    _schedule,
    catch_up,
    dispatch_id,
    dispatch_region,
    enqueue_due,
    ensure_region_dispatches,
    make_scheduler,
    plan_settings,
    scheduled_ids,
    start_id,
)
from sisapp.services import sync_runs
from tests.helpers.app import make_device
from tests.helpers.integrations import make_integration
from tests.helpers.processes import finish


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def epoch(dt: datetime) -> float:
    return float(int(dt.timestamp()))


def next_start(integration, now):
    return planner.next_planned_start(integration, now, settings=plan_settings())


def scheduled_runs(slot):
    db.session.rollback()
    return list(db.session.scalars(select(SyncRun).where(SyncRun.scheduled_for == slot)))


def test_region_dispatches_have_fixed_ids_and_survive_a_restart(app, redis_conn):
    now = utc(2026, 3, 7, 12)  # Saturday, between Chicago's CST Friday and CDT Tuesday
    expected = {
        dispatch_id(Region.US_NZ, utc(2026, 3, 10, 23)): epoch(utc(2026, 3, 10, 23)),
        dispatch_id(Region.AU, utc(2026, 3, 10, 10)): epoch(utc(2026, 3, 10, 10)),
        dispatch_id(Region.UK, utc(2026, 3, 10, 18)): epoch(utc(2026, 3, 10, 18)),
    }
    first = make_scheduler()
    assert sorted(ensure_region_dispatches(first, now)) == sorted(expected)
    assert scheduled_ids(first) == expected

    restarted = make_scheduler()  # a new process: same ids, nothing added, nothing lost
    ensure_region_dispatches(restarted, now)
    ensure_region_dispatches(restarted, now + timedelta(hours=1))
    assert scheduled_ids(restarted) == expected

    job = Job.fetch(dispatch_id(Region.US_NZ, utc(2026, 3, 10, 23)), connection=redis_conn)
    assert job.func_name == "sisapp.tasks.dispatch_region_job"
    assert job.args == ("us_nz", "2026-03-10T23:00:00+00:00")
    assert job.timeout == app.config["DISPATCH_JOB_TIMEOUT"]


def test_a_dispatch_stored_by_the_old_jobs_module_is_rewritten(app, redis_conn):
    """Upgrade: a schedule written before the tasks moved must not name sisapp.jobs."""
    now = utc(2026, 3, 7, 12)
    slot = utc(2026, 3, 10, 18)
    scheduler = make_scheduler()
    old = "sisapp.jobs.dispatch_region_job"
    scheduler.enqueue_at(slot, old, "uk", slot.isoformat(), job_id=dispatch_id("uk", slot))
    ensure_region_dispatches(scheduler, now)
    job = Job.fetch(dispatch_id("uk", slot), connection=redis_conn)
    assert job.func_name == "sisapp.tasks.dispatch_region_job"
    assert job.args == ("uk", slot.isoformat())
    assert scheduled_ids(scheduler)[dispatch_id("uk", slot)] == epoch(slot)


def test_a_scheduler_moves_only_its_own_queues_jobs(app, redis_conn, queue_name):
    """rq-scheduler keeps one schedule per Redis: another deployment's (or test
    session's) due job stays where it is, and is not listed as ours."""
    ours = make_scheduler()
    other = Scheduler(queue_name=f"{queue_name}-other", connection=redis_conn)
    due = utcnow() - timedelta(minutes=1)
    theirs = f"sisapp-{queue_name}-other-dispatch"
    other.enqueue_at(due, queue.DISPATCH_REGION_TASK, "uk", due.isoformat(), job_id=theirs)
    _schedule(ours, due, dispatch_id("uk", due), queue.DISPATCH_REGION_TASK, "uk", "x")
    try:
        assert theirs not in scheduled_ids(ours)
        assert enqueue_due(ours) == 1
        assert queue.get_queue().job_ids == [dispatch_id("uk", due)]
        assert theirs in scheduled_ids(other) and theirs in other
    finally:
        other.cancel(theirs)


@pytest.mark.parametrize(
    ("start", "chicago"),
    [
        (utc(2026, 3, 2), [utc(2026, 3, 4, 0), utc(2026, 3, 7, 0), utc(2026, 3, 10, 23)]),
        (utc(2026, 10, 24), [utc(2026, 10, 27, 23), utc(2026, 10, 30, 23), utc(2026, 11, 4, 0)]),
    ],
)
def test_each_dispatch_schedules_the_next_across_dst(app, redis_conn, start, chicago):
    """Fire the scheduled dispatches in order, as rq-scheduler would, for two weeks."""
    scheduler = make_scheduler()
    ensure_region_dispatches(scheduler, start)
    fired: dict[str, list] = {r.value: [] for r in Region}
    for _ in range(12):
        job_id, score = min(scheduled_ids(scheduler).items(), key=lambda kv: kv[1])
        region, slot_iso = Job.fetch(job_id, connection=redis_conn).args
        at = datetime.fromtimestamp(score, UTC)
        assert at == datetime.fromisoformat(slot_iso)
        scheduler.cancel(job_id)
        dispatch_region(region, at, now=at, scheduler=scheduler)
        fired[region].append(at)
    assert fired["us_nz"][:3] == chicago
    assert all((t.hour, t.minute) == (10, 0) for t in fired["au"])
    assert all((t.hour, t.minute) == (18, 0) for t in fired["uk"])
    assert len(scheduled_ids(scheduler)) == 3  # exactly one pending dispatch per region


@pytest.fixture
def chicago_integrations(app):
    app.config["SYNC_WORKER_CAPACITY"] = 2
    device = make_device("Lincoln High", Region.US_NZ)
    return [make_integration(device, f"SIS {k}") for k in range(6)]


SLOT = utc(2026, 3, 10, 23)  # Tuesday 6 PM CDT


def test_catch_up_after_downtime_starts_what_is_due_once(app, redis_conn, chicago_integrations):
    plan = planner.day_plan(Region.US_NZ, SLOT, plan_settings())
    offsets = sorted(p.start - SLOT for p in plan.values())
    assert offsets == [timedelta(minutes=m) for m in (0, 0, 30, 30, 60, 60)]

    # The scheduler was down at 6 PM and Redis lost its schedule; it is back at 6:45 PM.
    scheduler = make_scheduler()
    now = SLOT + timedelta(minutes=45)
    assert catch_up(scheduler, now) == 4
    runs = scheduled_runs(SLOT)
    assert len(runs) == 4
    assert {r.trigger for r in runs} == {SyncTrigger.SCHEDULED}
    assert all(plan[r.integration_id].start <= now for r in runs)
    later = [p for p in plan.values() if p.start > now]
    pending = scheduled_ids(scheduler)
    for p in later:
        assert pending[start_id(p.integration_id, SLOT)] == epoch(SLOT + timedelta(minutes=60))
    assert dispatch_id(Region.US_NZ, utc(2026, 3, 13, 23)) in pending

    assert catch_up(scheduler, now + timedelta(minutes=5)) == 0  # nothing twice
    assert len(scheduled_runs(SLOT)) == 4
    assert scheduled_ids(scheduler) == pending
    for run in runs:  # once they are over they still count as done for the slot
        sync_runs.finish_run(run.id, SyncStatus.SUCCEEDED)
    assert catch_up(scheduler, now + timedelta(minutes=10)) == 0
    assert catch_up(scheduler, SLOT + timedelta(minutes=61)) == 2
    assert catch_up(scheduler, SLOT + timedelta(days=1)) == 0  # the window has closed


def test_a_manual_sync_neither_uses_nor_moves_the_slot(app, redis_conn, chicago_integrations):
    integration = chicago_integrations[0]
    before = next_start(integration, SLOT - timedelta(days=1))
    manual, _ = sync_runs.request_sync(integration)
    assert next_start(integration, SLOT - timedelta(hours=1)) == before
    scheduler = make_scheduler()
    at = plan_start = planner.day_plan(Region.US_NZ, SLOT, plan_settings())[integration.id].start
    catch_up(scheduler, at + timedelta(minutes=1))
    assert integration.id not in {r.integration_id for r in scheduled_runs(SLOT)}
    sync_runs.finish_run(manual.id, SyncStatus.SUCCEEDED)
    catch_up(scheduler, plan_start + timedelta(minutes=2))
    assert integration.id in {r.integration_id for r in scheduled_runs(SLOT)}


def test_next_scheduled_sync_is_the_planned_instant(app, redis_conn, chicago_integrations):
    integration = chicago_integrations[0]
    planned = planner.day_plan(Region.US_NZ, SLOT, plan_settings())[integration.id].start
    assert next_start(integration, SLOT - timedelta(days=2)) == planned
    assert next_start(integration, SLOT + timedelta(hours=3)) == planned
    sync_runs.request_sync(integration, SyncTrigger.SCHEDULED, scheduled_for=SLOT)
    after = next_start(integration, SLOT + timedelta(hours=3))
    assert after - planned == utc(2026, 3, 13, 23) - SLOT  # Friday's slot, same place
    now = utcnow()
    assert sync_runs.next_scheduled_sync(integration) > now - timedelta(days=1)


def test_an_integration_added_while_its_window_is_open_waits_for_the_next(
    app, redis_conn, chicago_integrations
):
    device = chicago_integrations[0].device
    now = SLOT + timedelta(hours=2)  # 8 PM on a school night: the window is open
    late = make_integration(device, "Added at 8 PM", created_at=now)
    scheduler = make_scheduler()
    assert catch_up(scheduler, now + timedelta(minutes=5)) == 6  # the others, not it
    assert late.id not in {r.integration_id for r in scheduled_runs(SLOT)}
    friday = utc(2026, 3, 13, 23)
    assert friday <= next_start(late, now) < friday + timedelta(days=1)
    assert sync_runs.next_scheduled_sync(late, now) == next_start(late, now)
    assert start_id(late.id, SLOT) not in scheduled_ids(scheduler)


def test_a_planned_start_that_has_passed_shows_as_now_not_in_the_past(
    app, redis_conn, chicago_integrations
):
    integration = chicago_integrations[0]
    now = SLOT + timedelta(hours=3)  # planned at 6 PM, not started yet (scheduler down)
    assert next_start(integration, now) < now
    assert sync_runs.next_scheduled_sync(integration, now) == now


def test_schedule_show_prints_utc_and_region_time(app, redis_conn, chicago_integrations):
    result = app.test_cli_runner().invoke(args=["schedule", "show"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 6 + 3  # the integrations, then each region's fit of its next day
    lines, fit = lines[:6], lines[6:]
    assert all("Lincoln High" in line and "UTC" in line for line in lines)
    assert all("America/Chicago" in line and " C" in line for line in lines)
    assert [line.split(":")[0] for line in fit] == [r.value for r in Region]
    assert all("fits its 24-hour window" in line for line in fit)
    assert all("fewest workers that fit the day: 1" in line for line in fit)


def test_rq_scheduler_fires_the_dispatch_and_a_worker_runs_it(app, processes, redis_conn):
    """Real processes: `flask scheduler --burst` moves the due dispatch to the queue; a
    worker plans the region, starts what is due and schedules the rest."""
    app.config.update(SYNC_WORKER_CAPACITY=2, CATCHUP_INTERVAL=0)
    device = make_device("Leeds Academy", Region.UK)
    integrations = [make_integration(device, f"SIS {k}") for k in range(3)]
    slot = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    scheduler = make_scheduler()
    _schedule(
        scheduler, slot, dispatch_id("uk", slot), queue.DISPATCH_REGION_TASK, "uk", slot.isoformat()
    )

    finish(processes.flask("scheduler", "--burst"))
    assert dispatch_id("uk", slot) not in scheduled_ids(scheduler)
    assert dispatch_id("uk", slot) in queue.get_queue().job_ids
    finish(processes.worker())

    runs = scheduled_runs(slot)
    assert len(runs) == 2
    assert {r.status for r in runs} == {SyncStatus.SUCCEEDED}
    (waiting,) = {i.id for i in integrations} - {r.integration_id for r in runs}
    pending = scheduled_ids(scheduler)
    assert pending[start_id(waiting, slot)] == epoch(slot + timedelta(minutes=30))
    assert len(pending) == 4  # the waiting start and each region's next dispatch

    finish(processes.flask("scheduler", "--burst"))  # a restart adds nothing
    assert scheduled_ids(scheduler) == pending


def test_a_day_that_does_not_fit_its_window_is_a_warning_with_the_workers_needed(
    app, redis_conn, chicago_integrations, caplog
):
    app.config.update(SYNC_WORKER_CAPACITY=1, SYNC_DEFAULT_DURATION=6 * 3600)
    with caplog.at_level("WARNING", logger="sisapp.scheduler"):
        dispatch_region(Region.US_NZ, SLOT, SLOT, make_scheduler())
    warned = [r.getMessage() for r in caplog.records if "past its 24-hour window" in r.getMessage()]
    assert len(warned) == 1 and "it needs 2" in warned[0], warned
