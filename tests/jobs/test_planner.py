"""The planner: thousands of devices, never more syncs at once than workers, inside the
window, and each device's start stable from week to week."""

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from sisapp.extensions import db
from sisapp.models import Region, SyncRun, SyncStatus
from sisapp.schedule import planner, regional
from tests.helpers.app import make_device
from tests.helpers.integrations import make_integration

TUESDAY = regional.day_windows(Region.UK, datetime(2026, 3, 10, 18, tzinfo=UTC))
NEXT_TUESDAY = regional.day_windows(Region.UK, datetime(2026, 3, 17, 18, tzinfo=UTC))
DEFAULT = timedelta(minutes=30)


def district(count: int, seed: int = 7) -> dict[int, tuple[Region, float]]:
    """integration id -> (region, typical sync seconds: 2 to 40 minutes)."""
    rng = random.Random(seed)
    return {i: (rng.choice(list(Region)), rng.uniform(120, 2400)) for i in range(1, count + 1)}


def items_of(devices, rng, noise=0.1, skip=(), new=()):
    """Each device's estimate from five past runs that varied by +-noise."""
    items = []
    for i, (region, seconds) in devices.items():
        if i in skip:
            continue
        history = [seconds * rng.uniform(1 - noise, 1 + noise) for _ in range(5)]
        items.append(
            planner.PlanItem(i, 10_000 + i, region, planner.estimate_duration(history, DEFAULT))
        )
    items += [planner.PlanItem(i, 10_000 + i, Region.AU, DEFAULT) for i in new]
    return items


def offsets(plan, windows):
    return {p.integration_id: p.start - windows[p.region] for p in plan}


def test_thousands_of_devices_fit_the_window_within_capacity_and_stay_put():
    devices = district(3000)
    rng = random.Random(1)
    capacity = 40
    week1 = planner.plan(items_of(devices, rng), TUESDAY, capacity)
    assert len(week1) == 3000
    assert planner.max_concurrency(week1) == capacity  # all workers used, never more
    for p in week1:
        assert TUESDAY[p.region] <= p.start
        assert p.end <= TUESDAY[p.region] + regional.WINDOW
    first = min(week1, key=lambda p: (p.start, p.lane))
    assert first.start == TUESDAY[Region.AU]  # Perth's 6 PM comes first

    # A week later: every duration varied a little, 1% of devices left, 1% joined.
    gone = set(range(1, 31))
    week2 = planner.plan(
        items_of(devices, rng, skip=gone, new=range(5001, 5031)), NEXT_TUESDAY, capacity
    )
    assert planner.max_concurrency(week2) <= capacity
    before, after = offsets(week1, TUESDAY), offsets(week2, NEXT_TUESDAY)
    shifts = sorted(abs(after[i] - before[i]) for i in before if i in after)
    assert statistics.median(shifts) <= timedelta(minutes=15)
    assert shifts[-1] <= timedelta(minutes=45)


def test_overload_keeps_concurrency_and_says_when_the_window_is_exceeded():
    devices = district(2000)
    plan = planner.plan(items_of(devices, random.Random(2)), TUESDAY, 4)
    assert planner.max_concurrency(plan) == 4
    assert max(p.end for p in plan) > TUESDAY[Region.US_NZ] + regional.WINDOW


def test_one_worker_runs_one_sync_at_a_time():
    items = [planner.PlanItem(i, i, Region.UK, timedelta(minutes=10)) for i in range(1, 7)]
    plan = sorted(planner.plan(items, TUESDAY, 1), key=lambda p: p.start)
    assert [p.start - TUESDAY[Region.UK] for p in plan] == [
        timedelta(minutes=10 * k) for k in range(6)
    ]
    assert planner.max_concurrency(plan) == 1


def test_the_plan_does_not_depend_on_the_order_of_its_input():
    items = items_of(district(500), random.Random(3))
    shuffled = list(items)
    random.Random(4).shuffle(shuffled)
    assert planner.plan(items, TUESDAY, 7) == planner.plan(shuffled, TUESDAY, 7)


@pytest.mark.parametrize(
    ("history", "expected"),
    [([], 30), ([60], 5), ([301], 10), ([600, 1200, 3000], 20), ([1, 1, 1], 5)],
)
def test_estimate_is_the_median_rounded_up(history, expected):
    assert planner.estimate_duration(history, DEFAULT) == timedelta(minutes=expected)


def _finished_run(integration, minutes, finished, status=SyncStatus.SUCCEEDED):
    db.session.add(
        SyncRun(
            integration_id=integration.id,
            device_id=integration.device_id,
            status=status,
            started_at=finished - timedelta(minutes=minutes),
            finished_at=finished,
        )
    )


def test_durations_come_from_the_history_before_the_day(app):
    au = make_device("Perth College", Region.AU)
    seasoned = make_integration(au, "Seasoned")
    fresh = make_integration(au, "Fresh")
    cutoff = TUESDAY[Region.AU]
    for k, minutes in enumerate([40, 41, 39, 100, 42, 500]):
        _finished_run(seasoned, minutes, cutoff - timedelta(days=7 + k))
    _finished_run(seasoned, 999, cutoff - timedelta(days=1), SyncStatus.FAILED)
    _finished_run(seasoned, 999, cutoff + timedelta(hours=1))  # after the cutoff
    db.session.commit()
    default = planner.PlanSettings.from_config(app.config).default_duration
    items = {i.integration_id: i for i in planner.load_items(cutoff, default)}
    assert items[seasoned.id].duration == timedelta(minutes=45)  # median of the last five
    assert items[fresh.id].duration == timedelta(minutes=30)
    assert items[fresh.id].region == Region.AU


def test_overflow_per_region_and_the_fewest_workers_that_fit():
    devices = district(3000)
    items = items_of(devices, random.Random(1))
    late = planner.overflows(planner.plan(items, TUESDAY, 40), TUESDAY)
    assert late == {region: timedelta(0) for region in Region}
    needed = planner.fewest_workers(items, TUESDAY)
    assert needed <= 40
    assert not any(planner.overflows(planner.plan(items, TUESDAY, needed), TUESDAY).values())
    short = planner.overflows(planner.plan(items, TUESDAY, needed - 1), TUESDAY)
    assert any(short.values())
    # One lane for all: each region's overflow is its last end past its window.
    one = planner.plan(items, TUESDAY, 1)
    for region, over in planner.overflows(one, TUESDAY).items():
        last = max(p.end for p in one if p.region is region)
        assert over == max(timedelta(0), last - TUESDAY[region] - regional.WINDOW) > timedelta(0)


def test_overflow_and_fit_from_the_database(app):
    device = make_device("Perth College", Region.AU)
    slot = TUESDAY[Region.AU]
    integrations = [make_integration(device, f"SIS {k}") for k in range(3)]
    for integration in integrations:
        integration.created_at = slot - timedelta(days=30)
        for week in range(1, 4):
            started = slot - timedelta(days=7 * week)
            db.session.add(SyncRun(
                integration_id=integration.id, device_id=device.id, full=False,
                status=SyncStatus.SUCCEEDED, started_at=started,
                finished_at=started + timedelta(hours=10),
            ))  # fmt: skip
    db.session.commit()
    settings = planner.PlanSettings(capacity=1, default_duration=DEFAULT)
    assert planner.overflow(Region.AU, slot, settings) == timedelta(hours=6)  # 30 h in 24
    fit = planner.day_fit(Region.AU, slot, settings)
    assert fit.workers_needed == 2 and fit.capacity == 1
    assert planner.overflow(Region.UK, TUESDAY[Region.UK], settings) == timedelta(0)


def test_next_starts_of_many_rows_read_the_plan_once_per_transaction(app):
    """The SIS Integration page asks for each row's next start: the plan's fingerprint and
    the slot's runs are read once for the page, not once per row."""
    from sqlalchemy import event

    device = make_device("Perth College", Region.AU)
    integrations = [make_integration(device, f"SIS {k}") for k in range(50)]
    settings = planner.PlanSettings(capacity=4, default_duration=DEFAULT)
    now = TUESDAY[Region.AU] + timedelta(hours=1)  # inside the window
    planner.next_planned_start(integrations[0], now, settings=settings)  # the plan cached
    db.session.commit()
    for integration in integrations:  # loaded, as the page loads its rows
        db.session.refresh(integration)
        assert integration.device.region is Region.AU
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        starts = [planner.next_planned_start(i, now, settings=settings) for i in integrations]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert all(start is not None for start in starts)
    assert len(statements) <= 5  # not 3 or more per row
    # A new transaction sees new runs: a dispatched integration moves to the next day.
    db.session.add(SyncRun(integration_id=integrations[0].id, device_id=device.id,
                           scheduled_for=TUESDAY[Region.AU], full=False))  # fmt: skip
    db.session.commit()
    assert planner.next_planned_start(integrations[0], now, settings=settings) > TUESDAY[
        Region.AU
    ] + timedelta(days=1)
