"""An integration row made directly through the model, for the job and schedule tests."""

from datetime import UTC, datetime

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SisVendor

# Before every window the tests plan: the schedule leaves out integrations added later.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def make_integration(
    device, name: str = "District SIS", created_at: datetime = LONG_AGO
) -> OneRosterIntegration:
    integration = OneRosterIntegration(
        created_at=created_at,
        device_id=device.id,
        name=name,
        sis_vendor=SisVendor.OTHER,
        endpoint_url="https://sis.example/ims/oneroster/v1p1",
        client_id="client",
        client_secret_encrypted="not-a-real-token",
        schools=[],
        excluded_school_ids=[],
    )
    db.session.add(integration)
    db.session.commit()
    return integration
