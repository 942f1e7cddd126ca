"""A full read on PostgreSQL merges the mirror as it reads (``mirror.MergeWhileReading``):
the users once staged, then each school's slice once its roster is staged, while later
schools are still being read, all in the apply's one transaction. SQLite never does
(the apply's write lock would shut every other writer out for the whole read)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, func, select, update

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SisUser, SyncRun, SyncStatus
from sisapp.oneroster import OneRosterClient
from sisapp.services.integrations import delete_integration
from sisapp.sync import mirror
from sisapp.sync.environment import sync_environment_from_config
from sisapp.sync.stage import STAGE_ENROLLMENT
from tests.helpers.sync_state import detail_counts, expected, log_lines, stored_state


def _spy_on_school_merges(monkeypatch, then=None) -> list[tuple[str, int]]:
    """(school, enrollments staged so far) at each school's merge; ``then(school)``
    runs after each merge."""
    seen = []
    merge = mirror.MergeWhileReading._merge_school

    def spy(self, conn, school_id):
        staged = conn.scalar(select(func.count()).select_from(STAGE_ENROLLMENT))
        merge(self, conn, school_id)
        seen.append((school_id, staged))
        if then is not None:
            then(school_id)

    monkeypatch.setattr(mirror.MergeWhileReading, "_merge_school", spy)
    return seen


def test_a_full_read_merges_each_school_while_later_ones_are_still_read(make_integration, sync, district, monkeypatch):  # fmt: skip
    integration = make_integration()
    seen = _spy_on_school_merges(monkeypatch)
    run = sync(integration, full=True)
    assert run.status is SyncStatus.SUCCEEDED
    if db.engine.dialect.name == "sqlite":
        assert seen == []  # the write lock would be held for the whole read
        return
    assert [sid for sid, _ in seen] == [s["sourcedId"] for s in district.schools]
    staged = [n for _, n in seen]
    # Each merge saw more staged rows than the one before: later schools were staged
    # after it, not before (a merge after the whole read would see every row each time).
    assert staged == sorted(set(staged)) and staged[0] > 0


def test_a_run_cancelled_after_schools_were_merged_changes_nothing(make_integration, sync, district, monkeypatch):  # fmt: skip
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite merges nothing while reading")
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    district.apply_changes(0.2)
    before = stored_state(integration.id)
    run_id = db.session.scalar(select(func.max(SyncRun.id))) + 1
    engine = db.engine  # (the merges run in the staging writer's thread)

    def cancel(_school_id):  # as the admin would, from another connection
        with engine.begin() as other:
            other.execute(update(SyncRun).where(SyncRun.id == run_id).values(cancel_requested=True))  # fmt: skip

    seen = _spy_on_school_merges(monkeypatch, then=cancel)
    run = sync(integration, full=True)
    assert run.id == run_id
    assert run.status is SyncStatus.CANCELLED
    assert seen  # a school had been merged, and was rolled back with the run
    assert stored_state(integration.id) == before


def test_deleting_the_integration_mid_read_stops_its_sync_first(app, make_integration, sync, monkeypatch):  # fmt: skip
    """The delete would otherwise wait on the run's merged rows until the read ended
    (hours on a large district)."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite merges nothing while reading")
    integration = make_integration()
    iid, engine, deletes, asked = integration.id, db.engine, [], []

    def delete_now(_school_id):
        if deletes:
            return

        def delete():
            with app.app_context():
                delete_integration(db.session.get(OneRosterIntegration, iid))

        deletes.append(threading.Thread(target=delete))
        deletes[0].start()
        deadline = time.monotonic() + 10  # the delete asks the run to stop before it waits
        while not asked and time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.scalar(select(SyncRun.cancel_requested).where(SyncRun.integration_id == iid)):  # fmt: skip
                    asked.append(True)
            time.sleep(0.05)

    _spy_on_school_merges(monkeypatch, then=delete_now)
    sync(integration, full=True)
    deletes[0].join(30)
    assert asked == [True]
    assert not deletes[0].is_alive()
    db.session.rollback()
    assert db.session.get(OneRosterIntegration, iid) is None
    assert db.session.scalar(select(func.count()).where(SisUser.integration_id == iid)) == 0


def test_the_open_transaction_is_not_ended_for_being_idle(make_integration, sync, monkeypatch):
    """A server's idle_in_transaction_session_timeout would end the merges' transaction
    while a slow SIS sends its pages; the run's transaction turns it off for itself."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite merges nothing while reading")
    settings = []

    def server_default(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET idle_in_transaction_session_timeout = '5min'")
        dbapi_connection.commit()

    event.listen(db.engine, "connect", server_default)
    db.session.commit()  # (its connection back in the pool, which is emptied)
    db.engine.dispose()
    integration = make_integration()
    merge = mirror.MergeWhileReading._merge_school

    def spy(self, conn, school_id):
        settings.append(conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar())
        merge(self, conn, school_id)

    monkeypatch.setattr(mirror.MergeWhileReading, "_merge_school", spy)
    try:
        with db.engine.connect() as conn:  # the default the run's connection starts with
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "5min"  # fmt: skip
        assert sync(integration, full=True).status is SyncStatus.SUCCEEDED
    finally:
        event.remove(db.engine, "connect", server_default)
        db.session.rollback()
        db.engine.dispose()
    assert settings and set(settings) == {"0"}


def test_merging_while_reading_can_be_turned_off(app, make_integration, sync, monkeypatch):
    """SYNC_MERGE_WHILE_READING=false: the merge waits for the read (a short transaction)."""
    seen = _spy_on_school_merges(monkeypatch)
    app.config["SYNC_MERGE_WHILE_READING"] = "false"
    env = sync_environment_from_config(app.config)
    assert env.merge_while_reading is False
    integration = make_integration()
    run = sync(integration, full=True, merge_while_reading=env.merge_while_reading)
    assert run.status is SyncStatus.SUCCEEDED
    assert seen == []
    assert stored_state(integration.id)["sis_enrollment"]  # merged after the read


def test_a_school_the_sis_lists_twice_is_read_once(make_integration, sync, district, monkeypatch):
    """Its slice is one read of it (merged while reading, a second read would have
    replaced the first instead of joining it), and the log says so."""
    listed, rosters = OneRosterClient.schools, OneRosterClient.school_rosters
    read = []

    def twice(self):
        schools = list(listed(self))
        yield from schools
        yield schools[0]

    def recorded(self, schools, *args, **kwargs):
        schools = list(schools)
        read.extend(sid for sid, _ in schools)
        return rosters(self, schools, *args, **kwargs)

    monkeypatch.setattr(OneRosterClient, "schools", twice)
    monkeypatch.setattr(OneRosterClient, "school_rosters", recorded)
    run = sync(make_integration(), full=True)
    assert run.status is SyncStatus.SUCCEEDED
    assert sorted(read) == sorted(s["sourcedId"] for s in district.schools)
    assert detail_counts(run) == expected(district)
    first = district.schools[0]["sourcedId"]
    assert any("more than once" in line and first in line for line in log_lines(run.id))
