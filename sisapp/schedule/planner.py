"""Plan when each device's scheduled sync starts inside its region's 24-hour window.

Each sync's length is estimated from its own history (the median of its last few
successful runs; a default for new integrations), rounded up to a few minutes so small
differences between weeks do not move everybody after it. The syncs of one day, all three
regions together since they share the workers, are then packed into SYNC_WORKER_CAPACITY
lanes: regions in the order their windows open, and inside a region in the order of a
stable hash of the device and integration ids. Each sync takes the lane that frees first,
and starts when that lane is free but never before its region's 6 PM. So:

- no more syncs run at once than there are workers (one sync per lane at a time);
- the work fits the window whenever it can (lanes are filled from 6 PM without gaps);
- a device keeps its place in the order from week to week, so its start time only moves
  when the durations before it change.

Pure planning over the run history: callers pass the settings in (PlanSettings), and this
module imports neither the services nor the scheduler, so both can use it.
"""

import hashlib
import heapq
import statistics
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import Device, OneRosterIntegration, Region, SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.schedule import regional

HISTORY_RUNS = 5
QUANTUM = timedelta(minutes=5)


@dataclass(frozen=True)
class PlanSettings:
    """The settings a plan depends on; the defaults live in sisapp/config.py."""

    capacity: int  # SYNC_WORKER_CAPACITY
    default_duration: timedelta  # SYNC_DEFAULT_DURATION

    @classmethod
    def from_config(cls, config: Mapping) -> "PlanSettings":
        return cls(
            capacity=int(config["SYNC_WORKER_CAPACITY"]),
            default_duration=timedelta(seconds=int(config["SYNC_DEFAULT_DURATION"])),
        )


@dataclass(frozen=True)
class PlanItem:
    integration_id: int
    device_id: int
    region: Region
    duration: timedelta


@dataclass(frozen=True)
class PlannedSync:
    integration_id: int
    device_id: int
    region: Region
    start: datetime
    end: datetime
    lane: int


def stable_key(device_id: int, integration_id: int) -> int:
    """The same number every week (Python's hash() changes between processes)."""
    digest = hashlib.blake2b(f"{device_id}:{integration_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def estimate_duration(durations: list[float], default: timedelta) -> timedelta:
    """Median of past durations (seconds), rounded up to QUANTUM; `default` with no history."""
    estimate = timedelta(seconds=statistics.median(durations)) if durations else default
    quanta = max(1, -(-estimate // QUANTUM))
    return quanta * QUANTUM


def plan(
    items: list[PlanItem], windows: dict[Region, datetime], capacity: int
) -> list[PlannedSync]:
    """Pack the day's syncs into `capacity` worker lanes (see the module docstring)."""
    capacity = max(1, int(capacity))
    ordered = sorted(
        items, key=lambda i: (windows[i.region], stable_key(i.device_id, i.integration_id))
    )
    earliest = min(windows.values())
    lanes = [(earliest, lane) for lane in range(capacity)]
    planned = []
    for item in ordered:
        free, lane = heapq.heappop(lanes)
        start = max(free, windows[item.region])
        end = start + item.duration
        heapq.heappush(lanes, (end, lane))
        planned.append(
            PlannedSync(item.integration_id, item.device_id, item.region, start, end, lane)
        )
    return planned


def max_concurrency(planned: list[PlannedSync]) -> int:
    """The most syncs running at one instant (an end and a start at one instant don't overlap)."""
    events = sorted([(p.start, 1) for p in planned] + [(p.end, -1) for p in planned])
    running = peak = 0
    for _at, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def overflows(
    planned: list[PlannedSync], windows: Mapping[Region, datetime]
) -> dict[Region, timedelta]:
    """How far each region's last planned sync ends past its 24-hour window (zero: fits)."""
    result = {region: timedelta(0) for region in windows}
    for p in planned:
        late = p.end - (windows[p.region] + regional.WINDOW)
        result[p.region] = max(result[p.region], late)
    return result


def fewest_workers(items: list[PlanItem], windows: Mapping[Region, datetime]) -> int:
    """The fewest lanes whose plan fits every region's window (by bisection, from the
    work to do; the number of syncs when even one lane each does not fit)."""
    if not items:
        return 1
    work = sum((i.duration for i in items), timedelta(0))
    span = max(windows.values()) + regional.WINDOW - min(windows.values())
    low, high = max(1, int(work / span)), len(items)
    while low < high:
        middle = (low + high) // 2
        late = overflows(plan(items, windows, middle), windows)
        if any(late.values()):
            low = middle + 1
        else:
            high = middle
    return low


@dataclass(frozen=True)
class DayFit:
    """Whether a day's plan fits its windows: the overflow per region and the workers needed."""

    overflow: dict[Region, timedelta]
    workers_needed: int
    capacity: int


def day_fit(region: Region | str, slot: datetime, settings: PlanSettings) -> DayFit:
    """The fit of the day holding `region`'s `slot`, planned as `day_plan` plans it."""
    windows = regional.day_windows(region, slot)
    items = load_items(min(windows.values()), settings.default_duration, windows)
    planned = plan(items, windows, settings.capacity)
    return DayFit(overflows(planned, windows), fewest_workers(items, windows), settings.capacity)


def overflow(region: Region | str, slot: datetime, settings: PlanSettings) -> timedelta:
    """How far `region`'s plan for the day of `slot` runs past its window (zero: fits)."""
    return day_fit(region, slot, settings).overflow[Region(region)]


# -- from the database ---------------------------------------------------------------------


def load_items(
    cutoff: datetime, default: timedelta, opens: Mapping[Region, datetime] | None = None
) -> list[PlanItem]:
    """Every integration with its estimated duration from runs finished before `cutoff`
    (`default` for one without history).

    With `opens` (each region's window opening), an integration created after its
    region's window opened is left out: its first sync is the admin's, and the schedule
    takes it from the next window, never in the middle of a school day.
    """
    rank = (
        func.row_number()
        .over(partition_by=SyncRun.integration_id, order_by=SyncRun.finished_at.desc())
        .label("rank")
    )
    recent = (
        select(SyncRun.integration_id, SyncRun.started_at, SyncRun.finished_at, rank)
        .where(
            SyncRun.status.in_((SyncStatus.SUCCEEDED, SyncStatus.PARTIAL)),
            SyncRun.started_at.is_not(None),
            SyncRun.finished_at < cutoff,
        )
        .subquery()
    )
    history: dict[int, list[float]] = {}
    rows = db.session.execute(
        select(recent.c.integration_id, recent.c.started_at, recent.c.finished_at).where(
            recent.c.rank <= HISTORY_RUNS
        )
    )
    for integration_id, started, finished in rows:
        history.setdefault(integration_id, []).append((finished - started).total_seconds())
    integrations = db.session.execute(
        select(
            OneRosterIntegration.id,
            OneRosterIntegration.device_id,
            Device.region,
            OneRosterIntegration.created_at,
        ).join(Device, Device.id == OneRosterIntegration.device_id)
    )
    return [
        PlanItem(i, d, Region(r), estimate_duration(history.get(i, []), default))
        for i, d, r, created in integrations
        if opens is None or created is None or created < opens[Region(r)]
    ]


_cache: dict[tuple, tuple[float, dict[int, PlannedSync]]] = {}
CACHE_SECONDS = 300


def day_plan(
    region: Region | str, slot: datetime, settings: PlanSettings
) -> dict[int, PlannedSync]:
    """The plan of the day holding `region`'s `slot`, by integration id.

    Durations come from runs finished before the day's first window opened, so the plan
    of a day is the same whichever region's dispatch (or page) computes it.
    """
    windows = regional.day_windows(region, slot)
    cutoff = min(windows.values())
    fingerprint = _per_transaction(("fingerprint", cutoff), lambda: _fingerprint(cutoff))
    key = (str(db.engine.url), tuple(sorted(windows.items())), settings, fingerprint)
    cached = _cache.get(key)
    if cached and _time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    items = load_items(cutoff, settings.default_duration, windows)
    result = {p.integration_id: p for p in plan(items, windows, settings.capacity)}
    if len(_cache) > 16:
        _cache.clear()
    _cache[key] = (_time.monotonic(), result)
    return result


def _fingerprint(cutoff: datetime) -> tuple:
    integrations = db.session.execute(
        select(func.count(OneRosterIntegration.id), func.max(OneRosterIntegration.id))
    ).one()
    runs = db.session.execute(
        select(func.count(SyncRun.id), func.max(SyncRun.id)).where(SyncRun.finished_at < cutoff)
    ).one()
    return (*integrations, *runs)


def _per_transaction(key: tuple, compute):
    """``compute()``, once per database transaction: a page asking for the next start of
    each of its rows reads the plan's fingerprint and the slot's runs once, not per row."""
    session = db.session()
    transaction = session.get_transaction()
    if transaction is None:
        return compute()
    memo = session.info.get("planner_memo")
    if memo is None or memo[0] is not transaction:
        memo = (transaction, {})
        session.info["planner_memo"] = memo
    if key not in memo[1]:
        memo[1][key] = compute()
    return memo[1][key]


def _dispatched_ids(slot: datetime) -> frozenset[int]:
    return frozenset(
        db.session.scalars(select(SyncRun.integration_id).where(SyncRun.scheduled_for == slot))
    )


def already_dispatched(integration_id: int, slot: datetime) -> bool:
    return (
        db.session.scalar(
            select(SyncRun.id)
            .where(SyncRun.integration_id == integration_id, SyncRun.scheduled_for == slot)
            .limit(1)
        )
        is not None
    )


def next_planned_start(
    integration: OneRosterIntegration, now: datetime | None = None, *, settings: PlanSettings
) -> datetime | None:
    """This integration's next planned start (UTC): in the open window if not yet run."""
    return next_planned_starts([integration], now, settings=settings)[integration.id]


def next_planned_starts(
    integrations: list[OneRosterIntegration],
    now: datetime | None = None,
    *,
    settings: PlanSettings,
) -> dict[int, datetime | None]:
    """``next_planned_start`` of each integration by id: a page of rows looks its region's
    slots and plans up once, not once per row."""
    now = now or utcnow()
    by_region: dict[Region, list[OneRosterIntegration]] = {}
    for integration in integrations:
        by_region.setdefault(integration.device.region, []).append(integration)
    starts: dict[int, datetime | None] = {}
    for region, group in by_region.items():
        slot = regional.open_slot(region, now)
        open_plan: Mapping = {}
        if slot is not None:
            dispatched = _per_transaction(("dispatched", slot), lambda s=slot: _dispatched_ids(s))
            plan = day_plan(region, slot, settings)
            open_plan = {i.id: plan[i.id] for i in group if i.id in plan and i.id not in dispatched}
        next_day = None
        for integration in group:
            planned = open_plan.get(integration.id)
            if planned is None:
                if next_day is None:
                    next_day = day_plan(region, regional.next_slot(region, now), settings)
                planned = next_day.get(integration.id)
            starts[integration.id] = planned.start if planned else None
    return starts
