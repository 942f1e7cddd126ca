"""Deltas that converge (docs/sync-rules.md rule 6): the delta filter starts a margin
before the previous sync's start; a scheduled full read (by default the first scheduled
sync of each week) reconciles records a SIS deleted outright; Reset and Cancel leave
facts the row can show (issue 16, items 5 and 6)."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from sisapp.demo_sis.district import timestamp
from sisapp.extensions import db
from sisapp.models import SisUser, SisUserLink, SyncChange, SyncRun, SyncStatus, SyncTrigger
from sisapp.schedule import regional
from sisapp.schedule.full_reads import full_read_due, next_full_read_slot, next_full_read_slots
from sisapp.services.change_sets import last_good_run, next_full_read
from sisapp.services.integrations import reset_integration
from sisapp.services.sync_runs import latest_run
from sisapp.sync import SyncEnvironment, run_sync
from tests.helpers.sync_district import TODAY
from tests.helpers.sync_state import counts


def _family_name(integration, sid):
    return db.session.scalar(select(SisUser.family_name).where(
        SisUser.integration_id == integration.id, SisUser.sourced_id == sid))  # fmt: skip


def test_the_delta_margin_reads_changes_stamped_before_the_last_start(make_integration, sync, district):  # fmt: skip
    integration = make_integration()
    sync(integration)
    student = next(u for u in district.users if u["role"] == "student" and u["status"] == "active")
    with district.lock:  # the SIS's clock is a minute behind ours
        student["familyName"] = "Skewed"
        student["dateLastModified"] = timestamp(integration.last_sync_at - timedelta(seconds=60))
        district.touch()
    missed = sync(integration, delta_margin=0)
    assert missed.status is SyncStatus.SUCCEEDED
    assert _family_name(integration, student["sourcedId"]) != "Skewed"
    with district.lock:
        student["dateLastModified"] = timestamp(integration.last_sync_at - timedelta(seconds=60))
        district.touch()
    seen = sync(integration)  # the default margin, SYNC_DELTA_MARGIN = 300 s
    assert seen.status is SyncStatus.SUCCEEDED
    assert _family_name(integration, student["sourcedId"]) == "Skewed"


def _slots(region, first: date, n: int) -> list[datetime]:
    slots, at = [], datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    for _ in range(n):
        at = regional.next_slot(region, at)
        slots.append(at)
    return slots


def _scheduled(integration, slot, box):
    """The scheduler's run for ``slot``, run in the foreground."""
    run = SyncRun(integration_id=integration.id, device_id=integration.device_id,
                  trigger=SyncTrigger.SCHEDULED, scheduled_for=slot,
                  full=full_read_due(integration, slot, "week"))  # fmt: skip
    db.session.add(run)
    db.session.commit()
    env = SyncEnvironment(box=box, allow_private=True, today=TODAY, page_size=100)
    return run_sync(run.id, env)


def test_hard_deletions_converge_at_the_weekly_full_read(make_integration, sync, district, box):
    integration = make_integration()
    region = integration.device.region
    tuesday, friday, next_tuesday = _slots(region, date(2026, 2, 2), 3)
    assert regional.local_day(region, tuesday).weekday() == 1
    first = _scheduled(integration, tuesday, box)
    assert first.status is SyncStatus.SUCCEEDED and first.full  # the week's first

    with district.lock:  # records vanish without a tobedeleted
        gone = [u for u in district.users if u["role"] == "student" and u["status"] == "active"][:8]  # fmt: skip
        for user in gone:
            district.users.remove(user)
        district.touch()
    expected = district.expected_counts()
    linked = set(db.session.scalars(select(SisUserLink.sis_sourced_id).where(SisUserLink.integration_id == integration.id)))  # fmt: skip
    delta = _scheduled(integration, friday, box)
    assert delta.status is SyncStatus.SUCCEEDED and not delta.full
    assert counts(delta) != expected  # a delta cannot see them
    assert delta.changes["matched_users"]["removed"] == 0

    full = _scheduled(integration, next_tuesday, box)
    assert full.status is SyncStatus.SUCCEEDED and full.full
    assert counts(full) == expected
    changes = full.changes["matched_users"]
    assert changes["removed"] == len(linked & {u["sourcedId"] for u in gone}) > 0
    assert changes["removed"] - changes["added"] == (
        counts(first)["matched_students"] - expected["matched_students"]
    )
    reasons = set(db.session.scalars(select(SyncChange.reason).where(
        SyncChange.run_id == full.id, SyncChange.kind == "matched_users")))  # fmt: skip
    assert reasons == {"gone from the SIS", None}  # removed ones say why; added ones need not


def test_full_read_policies(make_integration, app):
    integration = make_integration()
    region = integration.device.region
    tuesday, friday, next_tuesday, next_friday = _slots(region, date(2026, 2, 2), 4)
    assert full_read_due(integration, friday, "week")  # Tuesday's did not run: Friday's reads all
    db.session.add(SyncRun(integration_id=integration.id, device_id=integration.device_id,
                           trigger=SyncTrigger.SCHEDULED, scheduled_for=tuesday, full=True,
                           status=SyncStatus.SUCCEEDED))  # fmt: skip
    db.session.commit()
    assert not full_read_due(integration, friday, "week")
    assert full_read_due(integration, next_tuesday, "week")
    assert not full_read_due(integration, friday, "never")
    assert next_full_read_slot(integration, tuesday + timedelta(hours=30), "week") == next_tuesday
    assert next_full_read_slot(integration, tuesday + timedelta(hours=30), "never") is None
    assert not full_read_due(integration, friday, "2")
    db.session.add(SyncRun(integration_id=integration.id, device_id=integration.device_id,
                           trigger=SyncTrigger.SCHEDULED, scheduled_for=friday, full=False,
                           status=SyncStatus.SUCCEEDED))  # fmt: skip
    db.session.commit()
    assert full_read_due(integration, next_tuesday, "2")
    assert next_full_read_slot(integration, friday + timedelta(hours=30), "2") == next_tuesday
    app.config["SYNC_SCHEDULED_FULL_READ"] = "week"
    # The list page's batch: one integration read in full this week, one not yet.
    other = make_integration(name="No full read yet")
    both = [integration, other]
    assert next_full_read_slots(both, tuesday - timedelta(hours=1), "week") == {
        integration.id: tuesday, other.id: tuesday}  # fmt: skip
    assert next_full_read_slots(both, tuesday + timedelta(hours=30), "week") == {
        integration.id: next_tuesday, other.id: friday}  # fmt: skip
    assert next_full_read_slots(both, friday + timedelta(hours=30), "week") == {
        integration.id: next_tuesday, other.id: next_tuesday}  # fmt: skip
    assert next_full_read_slots(both, friday, "never") == {integration.id: None, other.id: None}
    at = next_full_read(integration, now=tuesday + timedelta(hours=30))
    assert next_tuesday <= at < next_tuesday + timedelta(hours=24)
    assert next_friday > at


def test_reset_and_cancel_leave_what_the_row_shows(make_integration, sync, box):
    integration = make_integration()
    good = sync(integration)
    reset_integration(integration)
    assert integration.last_sync_at is None and integration.reset_at is not None
    assert latest_run(integration).id == good.id

    cancelled = SyncRun(integration_id=integration.id, device_id=integration.device_id,
                        cancel_requested=True)  # fmt: skip
    db.session.add(cancelled)
    db.session.commit()
    run = run_sync(cancelled.id, SyncEnvironment(box=box, allow_private=True, today=TODAY))
    assert run.status is SyncStatus.CANCELLED
    assert latest_run(integration).status is SyncStatus.CANCELLED
    kept = last_good_run(integration)
    assert kept.id == good.id and kept.matched_students == good.matched_students
    assert kept.changes == good.changes
    db.session.refresh(integration)
    assert integration.last_sync_at is None  # the cancelled run changed nothing
