"""Objects for tests, built directly through the models."""

from sisapp.extensions import db
from sisapp.models import Device


def objects_of(device: Device) -> dict:
    """One of each kind of object a URL can name, owned by `device`; their ids by URL name."""
    db.session.commit()
    return {}
