"""Objects for tests, built directly through the models."""

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import Device, OneRosterIntegration, SisVendor, SyncRun, SyncStatus
from sisapp.models.types import utcnow

TEST_SECRET = "s3cr3t-never-shown-9f2c"
SCHOOLS = [
    {"sourced_id": "sch-1", "name": "Alpha Elementary"},
    {"sourced_id": "sch-2", "name": "Beta Middle"},
    {"sourced_id": "sch-3", "name": "Gamma High"},
]


def make_integration(device: Device, **fields) -> OneRosterIntegration:
    """A stored integration (secret TEST_SECRET unless given) with three known schools."""
    from flask import current_app

    secret = fields.pop("client_secret", TEST_SECRET)
    values = {
        "name": "District SIS",
        "sis_vendor": SisVendor.OTHER,
        "endpoint_url": "https://sis.example.org/ims/oneroster/v1p1",
        "client_id": "client-123",
        "schools": [dict(s) for s in SCHOOLS],
        "excluded_school_ids": [],
    }
    values.update(fields)
    box = SecretBox(current_app.config["ENCRYPTION_KEY"])
    integration = OneRosterIntegration(
        device_id=device.id, client_secret_encrypted=box.encrypt(secret), **values
    )
    db.session.add(integration)
    db.session.commit()
    return integration


def make_run(integration: OneRosterIntegration, **fields) -> SyncRun:
    """A sync run in whatever state a test needs (default: succeeded with counts)."""
    values = {
        "status": SyncStatus.SUCCEEDED,
        "phase": "done",
        "queued_at": utcnow(),
        "started_at": utcnow(),
        "finished_at": utcnow(),
        "unmatched_users": 2,
        "matched_students": 40,
        "matched_teachers": 5,
        "imported_classes": 12,
    }
    values.update(fields)
    run = SyncRun(integration_id=integration.id, device_id=integration.device_id, **values)
    db.session.add(run)
    db.session.commit()
    return run


def objects_of(device: Device) -> dict:
    """One of each kind of object a URL can name, owned by `device`; their ids by URL name."""
    integration = make_integration(device)
    run = make_run(integration)
    db.session.commit()
    return {"integration_id": integration.id, "run_id": run.id}
