"""The settled runs' totals kept between scrapes stay exact: after runs end, new ones
start, an integration goes with its runs, or SQLite hands a deleted id out again, a
warm scrape equals the totals read whole from the table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services.run_stats import RunStats, read_totals
from tests.helpers.integrations import make_integration

TIMEOUT = 6 * 3600


def add_run(integration, status, *, hours_ago: float, seconds: float = 600, read: int = 100):
    end = utcnow() - timedelta(hours=hours_ago)
    active = status in (SyncStatus.QUEUED, SyncStatus.RUNNING)
    run = SyncRun(
        integration_id=integration.id,
        device_id=integration.device_id,
        trigger=SyncTrigger.SCHEDULED,
        status=status,
        records_read=read,
        queued_at=end - timedelta(seconds=seconds + 1),
        started_at=None if status is SyncStatus.QUEUED else end - timedelta(seconds=seconds),
        finished_at=None if active else end,
    )
    db.session.add(run)
    db.session.commit()
    return run


def whole():
    with db.engine.connect() as conn:
        return read_totals(conn, 0)


def warm(stats: RunStats):
    with db.engine.connect() as conn:
        return stats.totals(conn, utcnow(), TIMEOUT)


@pytest.fixture
def history(device):
    """Three integrations with old (settled) runs, young ones and one running now."""
    integrations = [make_integration(device, f"SIS {n}") for n in range(3)]
    for n in range(30):
        status = (SyncStatus.SUCCEEDED, SyncStatus.FAILED, SyncStatus.PARTIAL)[n % 3]
        add_run(integrations[n % 3], status, hours_ago=200 - n, seconds=60 * n + 5, read=n)
    add_run(integrations[0], SyncStatus.SUCCEEDED, hours_ago=1, read=1000)
    running = add_run(integrations[1], SyncStatus.RUNNING, hours_ago=0, read=7)
    return integrations, running


def test_a_warm_scrape_reads_only_the_young_runs_and_equals_the_whole(app, history):
    stats = RunStats()
    assert warm(stats) == whole()
    settled = stats._settled
    assert settled.totals.rows == 30  # the two young runs are read at every scrape
    assert warm(stats) == whole()


def test_runs_that_end_and_new_runs_are_counted(app, history):
    integrations, running = history
    stats = RunStats()
    warm(stats)
    db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == running.id)
        .values(status=SyncStatus.SUCCEEDED, finished_at=utcnow(), records_read=5000)
    )
    db.session.commit()
    add_run(integrations[2], SyncStatus.FAILED, hours_ago=0.1)
    add_run(integrations[1], SyncStatus.QUEUED, hours_ago=0)
    totals = warm(stats)
    assert totals == whole()
    assert totals.runs[(SyncStatus.SUCCEEDED, SyncTrigger.SCHEDULED)] == 12
    assert totals.runs[(SyncStatus.QUEUED, SyncTrigger.SCHEDULED)] == 1


def test_an_integration_deleted_with_its_runs_is_seen(app, history):
    integrations, _running = history
    stats = RunStats()
    warm(stats)
    db.session.execute(
        delete(OneRosterIntegration).where(OneRosterIntegration.id == integrations[2].id)
    )
    db.session.commit()
    totals = warm(stats)
    assert totals == whole()
    assert integrations[2].id not in totals.last_success


def test_a_reused_id_is_not_taken_for_the_run_it_replaced(app, device):
    """SQLite gives the highest deleted rowid out again: same count, different run."""
    first, second = make_integration(device, "A"), make_integration(device, "B")
    for n in range(5):
        add_run(first, SyncStatus.SUCCEEDED, hours_ago=100 - n)
    add_run(second, SyncStatus.FAILED, hours_ago=50, read=999)
    stats = RunStats()
    warm(stats)
    assert stats._settled.totals.rows == 6
    db.session.execute(delete(OneRosterIntegration).where(OneRosterIntegration.id == second.id))
    db.session.commit()
    add_run(first, SyncStatus.PARTIAL, hours_ago=40, read=3)  # may get the deleted id
    assert warm(stats) == whole()


def test_a_run_older_than_the_job_limit_that_is_still_active_holds_the_settled_part(app, device):
    integration, other = make_integration(device, "A"), make_integration(device, "B")
    stuck = add_run(integration, SyncStatus.RUNNING, hours_ago=30)
    for n in range(4):
        add_run(other, SyncStatus.SUCCEEDED, hours_ago=20 - n)
    stats = RunStats()
    assert warm(stats) == whole()
    assert stats._settled.upto < stuck.id  # nothing past an active run is settled
    db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == stuck.id)
        .values(status=SyncStatus.FAILED, finished_at=utcnow() - timedelta(hours=29))
    )
    db.session.commit()
    assert warm(stats) == whole()
    assert stats._settled.upto == stuck.id + 4
