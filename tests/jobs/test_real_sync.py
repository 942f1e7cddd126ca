"""End to end: the real sync engine in a real worker process against the demo SIS."""

import pytest
from sqlalchemy import select

from sisapp.demo_sis import DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncRun, SyncStatus
from sisapp.services import sync_runs
from tests.helpers.demo_sis import add_integration
from tests.helpers.processes import finish, wait_for

pytestmark = pytest.mark.slow

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret-jobs-7c1"


@pytest.fixture
def job_config():
    return {}  # the real runner and environment (sisapp.sync)


@pytest.fixture
def district():
    return generate_district(DistrictSpec(schools=2, students=200, seed=5))


@pytest.fixture
def sis_credentials():
    """The demo SIS's client id and secret (its `sis` and `directory` fixtures:
    tests/helpers/demo_sis_fixtures.py)."""
    return CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def integration(directory, sis, box):
    return add_integration(directory, sis, box, CLIENT_ID, CLIENT_SECRET)


def stored(integration_id: int) -> dict:
    """Every row a sync writes for the integration, all columns, as sorted tuples."""
    db.session.rollback()
    rows = {}
    for mapper in db.Model.registry.mappers:
        model = mapper.class_
        if hasattr(model, "integration_id") and model not in (SyncRun, SyncLogLine):
            table = model.__table__
            query = select(table).where(table.c.integration_id == integration_id)
            rows[model.__name__] = sorted(map(tuple, db.session.execute(query)), key=repr)
    return rows


def test_manual_sync_runs_in_a_worker_with_the_engine(
    app, integration, district, processes, redis_conn
):
    run, created = sync_runs.request_sync(integration)
    assert created
    finish(processes.worker(), timeout=120)
    db.session.refresh(run)
    assert run.status == SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    counts = {k: v for k, v in run.details().items() if k in district.expected_counts()}
    assert counts == district.expected_counts()
    assert run.progress_done and run.heartbeat_at and run.records_read


def test_cancel_mid_sync_leaves_the_last_good_data(app, integration, sis, processes, redis_conn):
    first, _ = sync_runs.request_sync(integration)
    finish(processes.worker(), timeout=120)
    db.session.refresh(first)
    assert first.status == SyncStatus.SUCCEEDED
    before = stored(integration.id)
    assert sum(map(len, before.values())) > 300

    sis.faults.latency_ms = 150
    sis.faults.changed_share = 0.2
    app.config.update(SYNC_PAGE_SIZE=20)
    run, _ = sync_runs.request_sync(integration, full=True)
    worker = processes.worker()
    wait_for(lambda: (db.session.get(SyncRun, run.id).records_read or 0) > 0, timeout=60)
    sync_runs.cancel_run(db.session.get(SyncRun, run.id))
    finish(worker, timeout=120)
    db.session.refresh(run)
    assert run.status == SyncStatus.CANCELLED, (run.error_code, run.error_message)
    assert stored(integration.id) == before
