"""Typed SQLAlchemy models. Models never commit: services own transactions."""

from sisapp.models.directory import DirectoryUser, UserKind, normalise_email
from sisapp.models.integration import OneRosterIntegration, RelationshipType, SisVendor
from sisapp.models.roster import (  # noqa: F401
    Classroom,
    ClassroomMember,
    ParentContact,
    SisUserLink,
    UnmatchedUser,
)
from sisapp.models.sis_mirror import (  # noqa: F401
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
)
from sisapp.models.sync_run import (
    CHANGE_KINDS,
    SyncChange,
    SyncLogLine,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    empty_changes,
)
from sisapp.models.tenancy import AdminUser, Device, Region

__all__ = [
    "AdminUser",
    "Device",
    "DirectoryUser",
    "OneRosterIntegration",
    "Region",
    "RelationshipType",
    "SisVendor",
    "CHANGE_KINDS",
    "SyncChange",
    "SyncLogLine",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "UserKind",
    "empty_changes",
    "normalise_email",
]
