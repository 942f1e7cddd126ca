"""Talking to a SIS on the admin's request: Test Connection and a fresh read of schools.

These are the only SIS calls the pages make, and only when the admin presses a button:
listing integrations and polling a sync's progress never reach the SIS.
"""

from sisapp.extensions import db
from sisapp.keys import SecretBox, SecretUnreadable
from sisapp.models import OneRosterIntegration
from sisapp.oneroster import ConnectionCheck, OneRosterClient
from sisapp.services.integrations import IntegrationData, connection_settings
from sisapp.sync.errors import SyncError, SyncErrorCode

UNREADABLE = SyncErrorCode.SECRET_UNREADABLE


def check_connection(
    data: IntegrationData,
    box: SecretBox,
    *,
    allow_private: bool,
    integration: OneRosterIntegration | None = None,
) -> ConnectionCheck:
    """Check unsaved settings; when editing, a blank secret means the stored one."""
    secret = data.client_secret
    if not secret and integration is not None:
        try:
            secret = box.decrypt(integration.client_secret_encrypted)
        except SecretUnreadable:
            return ConnectionCheck(
                ok=False, error_code=UNREADABLE.value, message=UNREADABLE.meaning
            )
    settings = connection_settings(data, box, allow_private=allow_private, secret=secret or "")
    with OneRosterClient(settings) as client:
        return client.check()


def refresh_schools(
    integration: OneRosterIntegration, box: SecretBox, *, allow_private: bool
) -> list[dict]:
    """Read the SIS's schools now and remember them; raises OneRosterError on failure.

    The admin is waiting on the page, so retries are few (a sync retries for longer).
    A secret this node cannot decrypt raises ``SyncError(SY110)``.
    """
    try:
        settings = connection_settings(
            integration, box, allow_private=allow_private, max_retries=1, retry_budget_seconds=15
        )
    except SecretUnreadable:
        raise SyncError(UNREADABLE, UNREADABLE.meaning) from None
    with OneRosterClient(settings) as client:
        schools = [
            {"sourced_id": org.sourced_id, "name": org.name or org.sourced_id}
            for org in client.schools()
            if org.status != "tobedeleted"
        ]
    schools.sort(key=lambda s: (s["name"].lower(), s["sourced_id"]))
    integration.schools = schools
    db.session.commit()
    return schools


def school_lists(integration: OneRosterIntegration) -> tuple[list[dict], list[dict]]:
    """(included, excluded) schools, each sorted by name."""
    excluded_ids = set(integration.excluded_school_ids or ())
    schools = sorted(integration.schools or [], key=lambda s: str(s.get("name")).lower())
    included = [s for s in schools if s["sourced_id"] not in excluded_ids]
    excluded = [s for s in schools if s["sourced_id"] in excluded_ids]
    return included, excluded
