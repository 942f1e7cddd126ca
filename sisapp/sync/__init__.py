"""The sync service: reads a SIS through the OneRoster client and attaches what it finds
to the device's directory users. Knows no Flask; uses ``db`` inside an app context.

Jobs and the CLI call ``run_sync(run_id, sync_environment_from_config(app.config))``.
"""

from sisapp.keys import SecretBox
from sisapp.sync.apply import allow_large_removals
from sisapp.sync.engine import SyncEnvironment, run_sync
from sisapp.sync.errors import SyncError, SyncErrorCode

__all__ = [
    "SyncEnvironment",
    "SyncError",
    "SyncErrorCode",
    "allow_large_removals",
    "run_sync",
    "sync_environment_from_config",
]


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def sync_environment_from_config(config, **overrides) -> SyncEnvironment:
    """A ``SyncEnvironment`` from the app config (``current_app.config`` or a dict).

    Keys: ENCRYPTION_KEY, ALLOW_PRIVATE_SIS_URLS, SYNC_REMOVAL_THRESHOLD (0.2),
    SYNC_PAGE_SIZE (1000), SYNC_CONCURRENCY (8), SYNC_MAX_RETRIES (the client's 6).
    """
    values = {
        "box": SecretBox(config["ENCRYPTION_KEY"]),
        "allow_private": _flag(config.get("ALLOW_PRIVATE_SIS_URLS", False)),
        "removal_threshold": float(config.get("SYNC_REMOVAL_THRESHOLD", 0.2)),
        "page_size": int(config.get("SYNC_PAGE_SIZE", 1000)),
        "concurrency": int(config.get("SYNC_CONCURRENCY", 8)),
    }
    if config.get("SYNC_MAX_RETRIES") is not None:
        values["client_options"] = {"max_retries": int(config["SYNC_MAX_RETRIES"])}
    values.update(overrides)
    return SyncEnvironment(**values)
