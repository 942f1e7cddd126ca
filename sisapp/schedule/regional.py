"""When each region's scheduled syncs start: Tuesday and Friday, 6 PM local time.

US/NZ devices follow America/Chicago, AU devices Australia/Perth, UK devices UTC. Slots
are computed with zoneinfo from the local wall clock, so they follow daylight saving
(Chicago's 6 PM is 23:00 UTC in summer and 00:00 UTC the next day in winter); 6 PM is
never inside a clock change, which happens at night. All instants returned are UTC.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sisapp.models import Region

SLOT_WEEKDAYS = (1, 4)  # Tuesday, Friday (Monday is 0)
SLOT_TIME = time(18, 0)
# A device's sync may start any time from 6 PM to 24 hours later.
WINDOW = timedelta(hours=24)


def zone(region: Region | str) -> ZoneInfo:
    return ZoneInfo(Region(region).timezone)


def slot_on(region: Region | str, day: date) -> datetime:
    """6 PM on `day` in the region's zone, as a UTC instant."""
    return datetime.combine(day, SLOT_TIME, tzinfo=zone(region)).astimezone(UTC)


def _candidates(region: Region | str, around: datetime):
    local_day = around.astimezone(zone(region)).date()
    for offset in range(-8, 9):
        day = local_day + timedelta(days=offset)
        if day.weekday() in SLOT_WEEKDAYS:
            yield slot_on(region, day)


def next_slot(region: Region | str, now: datetime) -> datetime:
    """The first slot strictly after `now`."""
    return min(s for s in _candidates(region, now) if s > now)


def previous_slot(region: Region | str, now: datetime) -> datetime:
    """The last slot at or before `now`."""
    return max(s for s in _candidates(region, now) if s <= now)


def open_slot(region: Region | str, now: datetime) -> datetime | None:
    """The slot whose 24-hour window contains `now`, if any."""
    slot = previous_slot(region, now)
    return slot if now < slot + WINDOW else None


def local_day(region: Region | str, slot: datetime) -> date:
    return slot.astimezone(zone(region)).date()


def day_windows(region: Region | str, slot: datetime) -> dict[Region, datetime]:
    """The window starts of every region on the local day of `region`'s `slot`.

    Regions share the workers, so one day is planned for all of them together: Perth's
    6 PM comes first (10:00 UTC), then the UK's (18:00 UTC), then Chicago's (23:00 or
    00:00 UTC). `slot` itself is kept for its own region even if it is not 6 PM.
    """
    day = local_day(region, slot)
    windows = {r: slot_on(r, day) for r in Region}
    windows[Region(region)] = slot
    return windows
