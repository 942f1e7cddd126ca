"""Times and zones as the admin pages print them: one rule for every page.

Every time is shown in the device's region zone and labelled with that zone (rows, log
lines, the run picker), so a run's start reads the same wherever it appears.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from sisapp.integrations import bp
from sisapp.integrations.presenters import collections_read, time_left
from sisapp.models import Region

# How the help article names each region's zone ("6 PM US Central Time").
ZONE_NAMES = {
    "America/Chicago": "US Central Time",
    "Australia/Perth": "Australian Western Time",
    "UTC": "UTC",
}


def _zone(region: str | Region | None) -> ZoneInfo:
    return ZoneInfo(Region(region).timezone) if region else ZoneInfo("UTC")


@bp.app_template_filter("region_clock")
def region_clock(value: datetime | None, region: str | Region | None) -> str:
    """A log line's time of day in the region's zone, with the zone: "14:03:05 CST"."""
    if value is None:
        return "—"
    return value.astimezone(_zone(region)).strftime("%H:%M:%S %Z")


@bp.app_template_global("zone_name")
def zone_name(region: str | Region | None) -> str:
    """The region's zone in words, as the article says it."""
    zone = Region(region).timezone if region else "UTC"
    return ZONE_NAMES.get(zone, zone)


bp.add_app_template_global(time_left, "time_left")
bp.add_app_template_global(collections_read, "collections_read")
