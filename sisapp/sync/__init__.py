"""Read a SIS through the OneRoster client and attach what it holds to the device's
directory users, as a pipeline of steps (``engine``): read -> mirror -> match -> derive
-> record. Knows no Flask and no service; uses ``db`` inside an app context.

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
