"""`flask --app app sync run` tells the admins too: its run ends outside a worker."""

import json
from datetime import UTC, datetime

import pytest
from rq.job import Job
from sqlalchemy import select

from sisapp import queue, tasks
from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.models import Device, Region, SyncRun
from tests.helpers.app import make_admin, make_device
from tests.helpers.sync_district import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def app_config(queue_name, smtp):
    return {"SYNC_MAX_RETRIES": 1, "RQ_QUEUE": queue_name, "SMTP_URL": smtp.url}


@pytest.fixture
def sis():
    district = generate_district(
        DistrictSpec(schools=2, students=120, seed=3, today=datetime.now(UTC).date())
    )
    server = DemoSISServer(district, client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    yield server
    server.stop()


def test_a_failed_cli_sync_emails_the_devices_admins(app, sis, smtp, redis_conn):
    device = make_device("CLI School", Region.UK)
    make_admin(device, "cli-admin@school.example")
    make_admin(make_device("Elsewhere"), "other@elsewhere.example")
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=["integration", "add", "--device", "CLI School", "--name", "Demo", "--sis", "Other",
              "--endpoint", sis.root_url, "--token-url", sis.token_url, "--client-id", CLIENT_ID],
        env={"SISAPP_CLIENT_SECRET": "a-wrong-secret"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    integration_id = int(added.output.strip().splitlines()[-1])

    result = runner.invoke(args=["sync", "run", str(integration_id), "--json"])

    payload = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 2 and payload["status"] == "failed"
    db.session.rollback()
    run = db.session.scalar(select(SyncRun).where(SyncRun.integration_id == integration_id))
    assert run.notified_at is not None
    admin_id = db.session.scalar(select(Device).where(Device.name == "CLI School")).admins[0].id
    job = Job.fetch(queue.job_id("mail", run.id, admin_id), connection=redis_conn)
    assert queue.get_mail_queue().job_ids == [job.id] and queue.get_queue().job_ids == []

    tasks.set_worker_app(app)
    try:
        assert job.perform() is True
    finally:
        tasks.set_worker_app(None)

    assert [m["To"] for m in smtp.inbox.messages] == ["cli-admin@school.example"]
    assert f"({payload['error_code']})" in smtp.inbox.messages[0]["Subject"]
