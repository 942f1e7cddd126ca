"""Sync a SIS into School Manager: read, mirror, match, derive, record (``engine``).

It reads the SIS through the OneRoster client and attaches what it holds to the
device's directory users. Knows no Flask and no service; uses ``db`` inside an app
context.

Jobs and the CLI call ``run_sync(run_id, sync_environment_from_config(app.config))``.
"""

from sisapp.sync.derive import allow_large_removals
from sisapp.sync.engine import run_sync
from sisapp.sync.environment import SyncEnvironment, sync_environment_from_config
from sisapp.sync.errors import SyncError, SyncErrorCode

__all__ = [
    "SyncEnvironment",
    "SyncError",
    "SyncErrorCode",
    "allow_large_removals",
    "run_sync",
    "sync_environment_from_config",
]
