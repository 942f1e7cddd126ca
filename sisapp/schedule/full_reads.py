"""Which scheduled syncs read everything: deltas cannot see records a SIS deletes
outright (no ``tobedeleted``), so a scheduled full read now and then makes the stored
data converge (docs/sync-rules.md rule 6).

The policy is SYNC_SCHEDULED_FULL_READ: "week" (the first scheduled sync of each week,
counted in the region's own time: Tuesday's, or Friday's when Tuesday's did not run),
a number N (every Nth scheduled sync), or "never".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SyncRun, SyncTrigger
from sisapp.schedule import regional


def _week_start(region, slot: datetime) -> datetime:
    """Monday 00:00 of the slot's week in the region's zone, as a UTC instant."""
    day = regional.local_day(region, slot)
    monday = day - timedelta(days=day.weekday())
    zone = regional.zone(region)
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone).astimezone(slot.tzinfo)


def _scheduled(integration_id: int):
    return select(SyncRun.full).where(
        SyncRun.integration_id == integration_id,
        SyncRun.trigger == SyncTrigger.SCHEDULED,
        SyncRun.scheduled_for.is_not(None),
    )


def full_read_due(integration: OneRosterIntegration, slot: datetime, policy) -> bool:
    """Whether the scheduled sync of ``slot`` should read everything under ``policy``."""
    policy = str(policy).strip().lower()
    if policy == "never":
        return False
    if policy == "week":
        start = _week_start(integration.device.region, slot)
        earlier = _scheduled(integration.id).where(
            SyncRun.scheduled_for >= start, SyncRun.scheduled_for < slot, SyncRun.full.is_(True)
        )
        return db.session.scalar(earlier.limit(1)) is None
    every = max(1, int(policy))
    recent = db.session.scalars(
        _scheduled(integration.id)
        .where(SyncRun.scheduled_for < slot)
        .order_by(SyncRun.scheduled_for.desc())
        .limit(every - 1)
    ).all()
    return len(recent) < every - 1 or not any(recent)


def next_full_read_slots(
    integrations: list[OneRosterIntegration], now: datetime, policy
) -> dict[int, datetime | None]:
    """The first coming slot (6 PM, region time) whose scheduled sync reads everything, for
    each integration by id, supposing the syncs before it run as planned; None under
    "never". Under "week" (the default) one query per region answers a whole list page."""
    mode = str(policy).strip().lower()
    if mode == "never":
        return {integration.id: None for integration in integrations}
    if mode != "week":
        every = max(1, int(policy))
        return {integration.id: _every_nth_slot(integration, now, every) for integration in integrations}  # fmt: skip
    slots: dict[int, datetime | None] = {}
    by_region: dict = {}
    for integration in integrations:
        by_region.setdefault(integration.device.region, []).append(integration)
    for region, members in by_region.items():
        slot = regional.open_slot(region, now) or regional.next_slot(region, now)
        week = _week_start(region, slot)
        read_this_week = set(
            db.session.scalars(
                select(SyncRun.integration_id).where(
                    SyncRun.integration_id.in_([i.id for i in members]),
                    SyncRun.trigger == SyncTrigger.SCHEDULED,
                    SyncRun.scheduled_for >= week,
                    SyncRun.scheduled_for < slot,
                    SyncRun.full.is_(True),
                )
            )
        )
        following = slot
        while _week_start(region, following) == week:
            following = regional.next_slot(region, following)
        for integration in members:
            slots[integration.id] = following if integration.id in read_this_week else slot
    return slots


def next_full_read_slot(
    integration: OneRosterIntegration, now: datetime, policy
) -> datetime | None:
    """``next_full_read_slots`` of one integration."""
    return next_full_read_slots([integration], now, policy)[integration.id]


def _every_nth_slot(integration: OneRosterIntegration, now: datetime, every: int) -> datetime:
    """Under "every Nth scheduled sync": the slot after the deltas still owed since the
    last full read."""
    region = integration.device.region
    slot = regional.open_slot(region, now) or regional.next_slot(region, now)
    recent = db.session.scalars(
        _scheduled(integration.id).order_by(SyncRun.scheduled_for.desc()).limit(every)
    ).all()
    deltas = 0
    for full in recent:
        if full:
            break
        deltas += 1
    for _ in range(max(0, every - 1 - deltas)):
        slot = regional.next_slot(region, slot)
    return slot
