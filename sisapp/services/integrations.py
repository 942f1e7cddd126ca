"""OneRoster integrations of a device."""

from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration


def list_integrations(device_id: int) -> list[OneRosterIntegration]:
    return list(
        db.session.scalars(
            select(OneRosterIntegration)
            .where(OneRosterIntegration.device_id == device_id)
            .order_by(OneRosterIntegration.name, OneRosterIntegration.id)
        )
    )
