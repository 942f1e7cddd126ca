"""Change sets (docs/sync-rules.md rule 12): what a run changed, counted independently
from the tables before and after; the rows kept per kind; a delta's set equals a full
sync's; deliberate removals (classes off, an excluded school) announced and recorded."""

import pytest
from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import SyncChange, SyncLogLine, SyncStatus
from sisapp.services.change_sets import announced_removals, run_changes
from sisapp.services.integrations import set_excluded_schools
from tests.helpers.sync_state import snapshot

ALL_ON = {"respect_enrolment_date": True, "respect_academic_sessions": True,
          "sync_parents": True, "relationship_type": "parent"}  # fmt: skip


def _keys(snap: dict) -> dict:
    """Each kind's identity: what "added" and "removed" are counted over."""
    return {
        "matched_users": {row for row in snap["sis_user_link"]},
        "unmatched_users": {row[0] for row in snap["unmatched_user"]},
        "classrooms": {row[0] for row in snap["classroom"]},
        "memberships": {row[:2] for row in snap["classroom_member"]},
        "parents": {row[:2] for row in snap["parent_contact"]},
    }


def expected_changes(before: dict, after: dict) -> dict:
    """The change set, counted from two snapshots of the tables (not by the code under test)."""
    old, new = _keys(before), _keys(after)
    result = {kind: {"added": len(new[kind] - old[kind]), "removed": len(old[kind] - new[kind])}
              for kind in old}  # fmt: skip
    names_before = {row[0]: row[1] for row in before["classroom"]}
    names_after = {row[0]: row[1] for row in after["classroom"]}
    result["classrooms"]["renamed"] = sum(
        1 for sid, name in names_after.items() if sid in names_before and names_before[sid] != name
    )
    return result


def _rows(run) -> dict:
    counted = db.session.execute(
        select(SyncChange.kind, SyncChange.change, func.count())
        .where(SyncChange.run_id == run.id)
        .group_by(SyncChange.kind, SyncChange.change)
    )
    return {(kind, change): n for kind, change, n in counted}


def _log(run) -> str:
    return "\n".join(db.session.scalars(select(SyncLogLine.message).where(SyncLogLine.run_id == run.id)))  # fmt: skip


@pytest.mark.parametrize("options", [{}, ALL_ON], ids=["defaults", "all-on"])
def test_change_sets_equal_the_tables_difference(make_integration, sync, district, options):
    integration = make_integration(**options)
    empty = snapshot(integration.id)
    first = sync(integration)
    assert first.status is SyncStatus.SUCCEEDED
    after_first = snapshot(integration.id)
    assert first.changes == expected_changes(empty, after_first)
    assert first.changes["memberships"]["added"] > 100 and first.changes["parents"]["added"] == (
        len(after_first["parent_contact"]) if options else 0
    )
    # every row is kept (all kinds are under 5,000 here)
    for kind, changes in first.changes.items():
        for change, n in changes.items():
            assert _rows(first).get((kind, change), 0) == n, (kind, change)

    district.apply_changes(0.05)
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    after = snapshot(integration.id)
    assert delta.changes == expected_changes(after_first, after)
    assert delta.changes["matched_users"]["removed"] and delta.changes["classrooms"]["removed"]
    assert delta.changes["classrooms"]["renamed"]
    reasons = set(db.session.scalars(select(SyncChange.reason).where(
        SyncChange.run_id == delta.id, SyncChange.change == "removed")))  # fmt: skip
    assert "tobedeleted in the SIS" in reasons, reasons
    assert None not in reasons
    log = _log(delta)
    assert "classrooms removed: " in log and "changes: matched users +" in log


def test_rows_are_bounded_and_counts_complete(make_integration, sync):
    integration = make_integration()
    run = sync(integration, change_rows_per_kind=3)
    assert run.status is SyncStatus.SUCCEEDED
    rows = _rows(run)
    for kind, changes in run.changes.items():
        assert sum(rows.get((kind, c), 0) for c in changes) == min(3, sum(changes.values()))
    assert run.changes["memberships"]["added"] > 3
    view = {k.kind: k for k in run_changes(run)}
    assert view["memberships"].truncated and len(view["memberships"].rows) == 3


@pytest.mark.parametrize("options", [{}, ALL_ON], ids=["defaults", "all-on"])
def test_a_delta_change_set_equals_a_full_syncs(make_integration, sync, district, options):
    delta_side, full_side = make_integration(**options), make_integration(**options)
    for integration in (delta_side, full_side):
        assert sync(integration).status is SyncStatus.SUCCEEDED
    district.apply_changes(0.05)
    delta, full = sync(delta_side), sync(full_side, full=True)
    assert delta.status is full.status is SyncStatus.SUCCEEDED
    assert "changes since" in _log(delta)
    assert delta.changes == full.changes
    assert sum(sum(c.values()) for c in delta.changes.values()) > 10

    def rows(run):
        return sorted(db.session.execute(select(SyncChange.kind, SyncChange.change, SyncChange.subject,
                                                SyncChange.reason).where(SyncChange.run_id == run.id)).all())  # fmt: skip

    assert rows(delta) == rows(full)


def test_classes_off_is_announced_and_recorded(make_integration, sync, district):
    integration = make_integration()
    sync(integration)
    before = snapshot(integration.id)
    rooms, members = len(before["classroom"]), len(before["classroom_member"])
    note = announced_removals(integration, {"sync_classes": False})
    assert (note.classrooms, note.memberships) == (rooms, members)
    assert note.message == (
        f"The next sync will remove {rooms:,} classrooms and {members:,} memberships this "
        "integration created."
    )
    integration.sync_classes = False
    integration.needs_sync = True
    db.session.commit()
    run = sync(integration)  # over the threshold, but the admin chose it
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    assert run.changes == expected_changes(before, snapshot(integration.id))
    assert run.changes["classrooms"]["removed"] == rooms
    assert run.changes["memberships"]["removed"] == members
    log = _log(run)
    assert (
        f"removed: 0 of {len(before['sis_user_link'])} users, {rooms} of {rooms} classrooms" in log
    )
    assert f"classrooms removed: {rooms} Sync Classroom Data off" in log
    assert f"memberships removed: {members} Sync Classroom Data off" in log


def test_an_excluded_school_is_announced_and_recorded(make_integration, sync, district):
    integration = make_integration()
    sync(integration)
    school = district.schools[0]["sourcedId"]
    before = snapshot(integration.id)
    rooms = [row for row in before["classroom"] if row[3] == school]
    note = announced_removals(integration, {"excluded_school_ids": [school]})
    assert note.classrooms == len(rooms) > 0 and note.memberships > 0
    set_excluded_schools(integration, [school])
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    assert run.changes == expected_changes(before, snapshot(integration.id))
    assert run.changes["classrooms"]["removed"] == note.classrooms
    assert run.changes["memberships"]["removed"] >= note.memberships
    assert run.changes["matched_users"]["removed"] == note.matched_users
    reasons = dict(db.session.execute(select(SyncChange.kind, SyncChange.reason).where(
        SyncChange.run_id == run.id, SyncChange.change == "removed", SyncChange.kind == "classrooms")).all())  # fmt: skip
    assert reasons == {"classrooms": "school excluded"}
    assert announced_removals(integration, {"excluded_school_ids": [school]}).empty
