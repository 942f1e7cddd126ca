"""Each region's Tue/Fri 6 PM, as UTC instants, across both 2026 changes of the clock.

Chicago moves to CDT (UTC-5) on Sunday 8 March 2026 and back to CST (UTC-6) on Sunday
1 November 2026; Perth (UTC+8) and the UK region (UTC) do not change.
"""

from datetime import UTC, datetime

import pytest

from sisapp.models import Region
from sisapp.schedule import regional


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots(region, start, count):
    out, t = [], start
    for _ in range(count):
        t = regional.next_slot(region, t)
        out.append(t)
    return out


def test_chicago_across_the_march_change():
    assert slots(Region.US_NZ, utc(2026, 3, 1), 4) == [
        utc(2026, 3, 4, 0),  # Tue 3 Mar 18:00 CST
        utc(2026, 3, 7, 0),  # Fri 6 Mar 18:00 CST
        utc(2026, 3, 10, 23),  # Tue 10 Mar 18:00 CDT
        utc(2026, 3, 13, 23),  # Fri 13 Mar 18:00 CDT
    ]


def test_chicago_across_the_november_change():
    assert slots(Region.US_NZ, utc(2026, 10, 26), 4) == [
        utc(2026, 10, 27, 23),  # Tue 27 Oct 18:00 CDT
        utc(2026, 10, 30, 23),  # Fri 30 Oct 18:00 CDT
        utc(2026, 11, 4, 0),  # Tue 3 Nov 18:00 CST
        utc(2026, 11, 7, 0),  # Fri 6 Nov 18:00 CST
    ]


@pytest.mark.parametrize("start", [utc(2026, 3, 1), utc(2026, 10, 26)])
def test_perth_and_uk_do_not_move(start):
    for slot in slots(Region.AU, start, 4):
        assert (slot.hour, slot.minute) == (10, 0)
        assert slot.weekday() in (1, 4)
    for slot in slots(Region.UK, start, 4):
        assert (slot.hour, slot.minute) == (18, 0)
        assert slot.weekday() in (1, 4)


def test_every_slot_is_6pm_tuesday_or_friday_in_the_region():
    for region in Region:
        for slot in slots(region, utc(2026, 1, 1), 104):  # a year
            local = slot.astimezone(regional.zone(region))
            assert (local.hour, local.minute) == (18, 0)
            assert local.strftime("%a") in ("Tue", "Fri")
            assert slot.tzinfo is UTC


def test_next_is_strictly_after_and_previous_is_at_or_before():
    slot = utc(2026, 3, 10, 23)
    assert regional.next_slot(Region.US_NZ, slot) == utc(2026, 3, 13, 23)
    assert regional.previous_slot(Region.US_NZ, slot) == slot
    assert regional.previous_slot(Region.US_NZ, utc(2026, 3, 10, 22, 59)) == utc(2026, 3, 7)


def test_open_slot_is_the_24_hour_window():
    slot = utc(2026, 11, 4, 0)
    assert regional.open_slot(Region.US_NZ, slot) == slot
    assert regional.open_slot(Region.US_NZ, utc(2026, 11, 4, 23, 59)) == slot
    assert regional.open_slot(Region.US_NZ, utc(2026, 11, 5, 0)) is None
    assert regional.open_slot(Region.US_NZ, utc(2026, 11, 3, 23, 59)) is None


def test_day_windows_are_the_same_local_day_in_every_region():
    windows = regional.day_windows(Region.UK, utc(2026, 3, 10, 18))
    assert windows == {
        Region.AU: utc(2026, 3, 10, 10),
        Region.UK: utc(2026, 3, 10, 18),
        Region.US_NZ: utc(2026, 3, 10, 23),
    }
