"""The delete policy of an integration: what deleting it keeps and what goes with it.

The school's classrooms, their members and the parent contacts stay on the device,
detached from the integration; its SIS mirror, matches, unmatched list and runs go.
"""

from sqlalchemy import delete, update

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    OneRosterIntegration,
    ParentContact,
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
    SisUserLink,
    UnmatchedUser,
)


def detach_integration(integration: OneRosterIntegration) -> None:
    """Detach the kept rows and drop the integration's own ones (the caller commits)."""
    iid = integration.id
    db.session.execute(
        update(Classroom).where(Classroom.integration_id == iid).values(integration_id=None)
    )
    db.session.execute(
        update(ParentContact).where(ParentContact.integration_id == iid).values(integration_id=None)
    )
    for model in (SisEnrollment, SisClass, SisUser, SisSession, SisOrg, SisUserLink, UnmatchedUser):
        db.session.execute(delete(model).where(model.integration_id == iid))
