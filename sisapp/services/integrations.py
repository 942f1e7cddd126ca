"""OneRoster integrations of a device: the rules for adding, editing, resetting,
excluding schools and deleting, shared by the pages, the CLI and the jobs.
"""

import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select, update

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration, RelationshipType, SisVendor, SyncRun, SyncStatus
from sisapp.models.types import utcnow
from sisapp.oneroster import ConnectionSettings
from sisapp.services.text import has_bidi_override
from sisapp.sync.environment import stored_connection_settings

POWERSCHOOL_PARENTS = "Syncing Parent Data from PowerSchool is unavailable"


class IntegrationError(ValueError):
    """Invalid integration settings; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass
class IntegrationData:
    """What an admin gives for an integration; secret None or "" keeps the stored one."""

    name: str
    sis_vendor: str
    endpoint_url: str
    client_id: str
    client_secret: str | None = None
    token_url: str | None = None
    sync_classes: bool = True
    respect_enrolment_date: bool = False
    respect_academic_sessions: bool = False
    sync_parents: bool = False
    relationship_type: str | None = None
    excluded_school_ids: list[str] = field(default_factory=list)
    # The most requests in flight to this SIS; None: the deployment's SYNC_CONCURRENCY.
    max_concurrency: int | None = None


# Column sizes of OneRosterIntegration: longer values are refused, never cut or left to
# the database (PostgreSQL would answer the page with an error).
MAX_NAME, MAX_URL, MAX_CLIENT_ID = 120, 500, 255
# Requests at once to one SIS: some vendors ask for 5 or fewer; above 32 a sync is bound
# by parsing, not by the SIS, so more only loads the SIS.
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 32


def _has_control(value: str) -> bool:
    """NUL and other control characters: PostgreSQL refuses NUL, and none belongs here."""
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def _url_error(value: str, label: str) -> str | None:
    if len(value) > MAX_URL:
        return f"{label} is too long (at most {MAX_URL} characters)."
    try:
        parts = urlsplit(value)
        scheme, hostname = parts.scheme, parts.hostname
    except ValueError:  # an unbalanced [ or a bad port
        scheme = hostname = None
    if scheme not in ("http", "https") or not hostname:
        return f"{label} must be a full URL starting with https://"
    if any(ch.isspace() for ch in value) or _has_control(value):
        return f"{label} must not contain spaces or control characters"
    return None


def validate(data: IntegrationData, *, require_secret: bool) -> dict[str, str]:
    """Field errors for `data` (empty when valid). Reachability is checked elsewhere."""
    errors: dict[str, str] = {}
    data.name = (data.name or "").strip()
    data.endpoint_url = (data.endpoint_url or "").strip()
    data.token_url = (data.token_url or "").strip() or None
    data.client_id = (data.client_id or "").strip()
    if not data.name:
        errors["name"] = "Give the integration a name."
    elif len(data.name) > MAX_NAME:
        errors["name"] = f"Keep the name under {MAX_NAME} characters."
    elif _has_control(data.name):
        errors["name"] = "The name must not contain control characters."
    elif has_bidi_override(data.name):
        errors["name"] = "The name must not contain bidirectional override characters."
    if data.sis_vendor not in {v.value for v in SisVendor}:
        errors["sis_vendor"] = "Choose which SIS you are integrating."
    if not data.endpoint_url:
        errors["endpoint_url"] = "Enter the OneRoster endpoint URL from your SIS."
    elif problem := _url_error(data.endpoint_url, "The endpoint URL"):
        errors["endpoint_url"] = problem
    if data.token_url and (problem := _url_error(data.token_url, "The token URL")):
        errors["token_url"] = problem
    if not data.client_id:
        errors["client_id"] = "Enter the client ID your SIS issued."
    elif len(data.client_id) > MAX_CLIENT_ID or _has_control(data.client_id):
        errors["client_id"] = "This is not a client ID: check you copied the right value."
    if require_secret and not data.client_secret:
        errors["client_secret"] = "Enter the client secret your SIS issued."
    if data.sync_parents:
        if data.sis_vendor == SisVendor.POWERSCHOOL.value:
            errors["sync_parents"] = POWERSCHOOL_PARENTS
        if data.relationship_type not in {r.value for r in RelationshipType}:
            errors["relationship_type"] = "Choose the relationship type to sync."
    else:
        data.relationship_type = None
    if data.max_concurrency is not None and not (
        MIN_CONCURRENCY <= data.max_concurrency <= MAX_CONCURRENCY
    ):
        errors["max_concurrency"] = (
            f"Choose between {MIN_CONCURRENCY} and {MAX_CONCURRENCY} requests at once,"
            " or leave it blank for the default."
        )
    return errors


def _apply(integration: OneRosterIntegration, data: IntegrationData, box: SecretBox) -> None:
    integration.name = data.name
    integration.sis_vendor = SisVendor(data.sis_vendor)
    if integration.endpoint_url != data.endpoint_url or integration.token_url != data.token_url:
        integration.detected_version = None
        integration.detected_auth = None
    integration.endpoint_url = data.endpoint_url
    integration.token_url = data.token_url
    integration.client_id = data.client_id
    if data.client_secret:
        integration.client_secret_encrypted = box.encrypt(data.client_secret)
    integration.sync_classes = data.sync_classes
    integration.respect_enrolment_date = data.respect_enrolment_date
    integration.respect_academic_sessions = data.respect_academic_sessions
    integration.sync_parents = data.sync_parents
    integration.relationship_type = (
        RelationshipType(data.relationship_type) if data.relationship_type else None
    )
    integration.max_concurrency = data.max_concurrency


def create_integration(
    device_id: int, data: IntegrationData, box: SecretBox
) -> OneRosterIntegration:
    integration = OneRosterIntegration(device_id=device_id, schools=[], excluded_school_ids=[])
    return _save(integration, data, box, new=True)


def update_integration(
    integration: OneRosterIntegration, data: IntegrationData, box: SecretBox
) -> OneRosterIntegration:
    """Save edits; the integration then needs a sync for them to take effect."""
    return _save(integration, data, box, new=False)


def _save(
    integration: OneRosterIntegration, data: IntegrationData, box: SecretBox, *, new: bool
) -> OneRosterIntegration:
    """Validate ``data`` (a new integration needs its secret), store it and mark the
    integration as needing a sync."""
    errors = validate(data, require_secret=new)
    if errors:
        raise IntegrationError(errors)
    _apply(integration, data, box)
    if new:
        integration.excluded_school_ids = sorted(set(data.excluded_school_ids))
        db.session.add(integration)
    integration.needs_sync = True
    db.session.commit()
    return integration


def data_from(integration: OneRosterIntegration) -> IntegrationData:
    """The editable settings of a stored integration (never the secret)."""
    return IntegrationData(
        name=integration.name,
        sis_vendor=integration.sis_vendor.value,
        endpoint_url=integration.endpoint_url,
        token_url=integration.token_url,
        client_id=integration.client_id,
        client_secret=None,
        sync_classes=integration.sync_classes,
        respect_enrolment_date=integration.respect_enrolment_date,
        respect_academic_sessions=integration.respect_academic_sessions,
        sync_parents=integration.sync_parents,
        relationship_type=integration.relationship_type.value
        if integration.relationship_type
        else None,
        excluded_school_ids=list(integration.excluded_school_ids or []),
        max_concurrency=integration.max_concurrency,
    )


def reset_integration(integration: OneRosterIntegration) -> None:
    """Forget the last sync date so the next sync is a full one; keep all synced data.
    ``reset_at`` lets the row say so (the last sync date is cleared, not lost)."""
    integration.last_sync_at = None
    integration.reset_at = utcnow()
    db.session.commit()


def set_excluded_schools(integration: OneRosterIntegration, excluded: list[str]) -> None:
    known = {s["sourced_id"] for s in integration.schools or []}
    unknown = set(excluded) - known
    if unknown:
        label = "Unknown school: " if len(unknown) == 1 else "Unknown schools: "
        raise IntegrationError({"excluded": label + ", ".join(sorted(unknown))})
    if sorted(set(excluded)) != sorted(integration.excluded_school_ids or []):
        integration.excluded_school_ids = sorted(set(excluded))
        integration.needs_sync = True
    db.session.commit()


def delete_integration(integration: OneRosterIntegration) -> None:
    """Remove the integration; matched users, classrooms and memberships stay.

    A sync of it that is running is asked to stop first (committed before the delete): a
    full read on PostgreSQL holds the integration's mirror rows from its first merge
    (``sync.mirror.MergeWhileReading``), so the delete waits for that run to roll back,
    which it then does at its next page instead of at the end of its read.
    """
    from sisapp.services.retention import detach_integration

    db.session.execute(
        update(SyncRun)
        .where(SyncRun.integration_id == integration.id, SyncRun.status == SyncStatus.RUNNING)
        .values(cancel_requested=True, cancel_requested_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    detach_integration(integration)
    db.session.delete(integration)
    db.session.commit()


def list_integrations(device_id: int) -> list[OneRosterIntegration]:
    return list(
        db.session.scalars(
            select(OneRosterIntegration)
            .where(OneRosterIntegration.device_id == device_id)
            .order_by(OneRosterIntegration.name, OneRosterIntegration.id)
        )
    )


def get_integration(device_id: int, integration_id: int) -> OneRosterIntegration | None:
    """The device's integration, or None: another device's answers the same as a missing one."""
    return db.session.scalar(
        select(OneRosterIntegration).where(
            OneRosterIntegration.id == integration_id, OneRosterIntegration.device_id == device_id
        )
    )


def connection_settings(
    integration: OneRosterIntegration | IntegrationData,
    box: SecretBox,
    *,
    allow_private: bool,
    secret: str | None = None,
    **overrides,
) -> ConnectionSettings:
    """Client settings for a stored integration (or for unsaved form data)."""
    if not isinstance(integration, IntegrationData):
        return stored_connection_settings(
            integration, box, allow_private=allow_private, secret=secret, **overrides
        )
    return ConnectionSettings(
        endpoint_url=integration.endpoint_url,
        client_id=integration.client_id,
        client_secret=secret or integration.client_secret or "",
        token_url=integration.token_url or None,
        allow_private=allow_private,
        **overrides,
    )
