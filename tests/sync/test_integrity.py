"""Referential integrity after syncs of every kind.

The run's SQLite connection does not check foreign keys (``dialect.skip_foreign_key_checks``
says why they cannot fail). This proves it: after a first sync, deltas with changes and
removals, a partial sync, an excluded school, a reset and resync and a delete, SQLite's
``foreign_key_check`` finds no row pointing at nothing. On PostgreSQL, which checks
every row as it is written, the same syncs must simply succeed.
"""

from sqlalchemy import text

from sisapp.extensions import db
from sisapp.models import ClassroomMember, SyncStatus
from sisapp.services.integrations import (
    delete_integration,
    reset_integration,
    set_excluded_schools,
)
from tests.helpers.sync_state import counts


def _dangling() -> list:
    db.session.commit()
    if db.engine.dialect.name != "sqlite":
        return []
    return [tuple(row) for row in db.session.execute(text("PRAGMA foreign_key_check"))]


def _ok(run, district, **options):
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert counts(run) == district.expected_counts(**options)
    assert _dangling() == []


def test_no_dangling_rows_after_syncs_of_every_kind(make_integration, sync, sis, district):
    integration = make_integration(sync_parents=True, relationship_type="parent")
    _ok(sync(integration), district, parents="parent")
    assert db.session.query(ClassroomMember).count() > 0

    district.apply_changes(0.1)  # renames, removals, new users, moved enrollments
    _ok(sync(integration), district, parents="parent")

    broken = district.schools[1]["sourcedId"]
    sis.faults.broken_school = broken
    district.apply_changes(0.05)
    partial = sync(integration, full=True)
    assert partial.status is SyncStatus.PARTIAL
    assert _dangling() == []
    sis.faults.broken_school = None

    excluded = [district.schools[0]["sourcedId"]]
    set_excluded_schools(integration, excluded)
    _ok(sync(integration), district, parents="parent", excluded_schools=excluded)
    set_excluded_schools(integration, [])

    reset_integration(integration)
    _ok(sync(integration), district, parents="parent")

    delete_integration(integration)
    assert _dangling() == []
    assert db.session.query(ClassroomMember).count() > 0  # delete keeps classes and members
