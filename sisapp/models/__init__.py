"""Typed SQLAlchemy models. Models never commit: services own transactions."""

from sisapp.models.directory import DirectoryUser, UserKind, normalise_email
from sisapp.models.integration import OneRosterIntegration, RelationshipType, SisVendor
from sisapp.models.sync_run import SyncLogLine, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.tenancy import AdminUser, Device, Region

__all__ = [
    "AdminUser",
    "Device",
    "DirectoryUser",
    "OneRosterIntegration",
    "Region",
    "RelationshipType",
    "SisVendor",
    "SyncLogLine",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "UserKind",
    "normalise_email",
]
