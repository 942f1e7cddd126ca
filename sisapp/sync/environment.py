"""Give a sync what it needs from outside: the app's settings, the SIS connection.

Jobs and the CLI build a ``SyncEnvironment`` from the app config
(``sync_environment_from_config``); tests and the bench build one directly. The
defaults of the ``SYNC_*`` settings live in ``sisapp/config.py`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sisapp.config import (
    SYNC_CHANGE_ROWS_PER_KIND,
    SYNC_CONCURRENCY,
    SYNC_DELTA_MARGIN,
    SYNC_END_RECORD_WINDOW,
    SYNC_MAX_RETRIES,
    SYNC_MERGE_WHILE_READING,
    SYNC_PAGE_SIZE,
    SYNC_REMOVAL_THRESHOLD,
    SYNC_RUN_DEADLINE,
)
from sisapp.keys import SecretBox, SecretUnreadable
from sisapp.models import OneRosterIntegration
from sisapp.oneroster import ConnectionSettings
from sisapp.sync.errors import SyncError, SyncErrorCode

# What discovery remembered of the integration's auth, as the client names it.
_OAUTH1_SIGNATURES = {"oauth1-hmac-sha256": "HMAC-SHA256", "oauth1-hmac-sha1": "HMAC-SHA1"}


@dataclass
class SyncEnvironment:
    """What a sync needs from the app's configuration (jobs and the CLI build it)."""

    box: SecretBox
    allow_private: bool = False
    removal_threshold: float = SYNC_REMOVAL_THRESHOLD
    page_size: int = SYNC_PAGE_SIZE
    concurrency: int = SYNC_CONCURRENCY
    max_retries: int = SYNC_MAX_RETRIES
    end_record_window: float = SYNC_END_RECORD_WINDOW
    run_deadline: float | None = SYNC_RUN_DEADLINE
    change_rows_per_kind: int = SYNC_CHANGE_ROWS_PER_KIND
    delta_margin: float = SYNC_DELTA_MARGIN  # seconds a delta reads before its point
    merge_while_reading: bool = SYNC_MERGE_WHILE_READING  # where the database allows it
    progress_interval: float = 1.0
    today: date | None = None  # None: today in the device's region
    on_progress: Callable[[dict], None] | None = None
    # Extra ConnectionSettings fields (backoff_base, max_retries, ...): tests and bench.
    client_options: dict = field(default_factory=dict)

    def client_settings(self, integration: OneRosterIntegration) -> ConnectionSettings:
        """The client settings a sync of ``integration`` reads with; ``SyncError(SY110)``
        when its stored secret cannot be decrypted."""
        cap = integration.max_concurrency or self.concurrency  # the vendor's limit, if set
        options = {"page_size": self.page_size, "concurrency": cap,
                   "max_retries": self.max_retries, **self.client_options}  # fmt: skip
        try:
            return stored_connection_settings(
                integration, self.box, allow_private=self.allow_private, **options
            )
        except SecretUnreadable:
            code = SyncErrorCode.SECRET_UNREADABLE
            raise SyncError(code, code.meaning) from None


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def sync_environment_from_config(config, **overrides) -> SyncEnvironment:
    """A ``SyncEnvironment`` from the app config (``current_app.config``).

    Keys: ENCRYPTION_KEY, ALLOW_PRIVATE_SIS_URLS and the SYNC_* settings of a run
    (defaults and meanings: ``sisapp/config.py``).
    """
    values = {
        "box": SecretBox(config["ENCRYPTION_KEY"]),
        "allow_private": _flag(config["ALLOW_PRIVATE_SIS_URLS"]),
        "removal_threshold": float(config["SYNC_REMOVAL_THRESHOLD"]),
        "page_size": int(config["SYNC_PAGE_SIZE"]),
        "concurrency": int(config["SYNC_CONCURRENCY"]),
        "max_retries": int(config["SYNC_MAX_RETRIES"]),
        "end_record_window": float(config["SYNC_END_RECORD_WINDOW"]),
        "run_deadline": float(config["SYNC_RUN_DEADLINE"]),
        "delta_margin": float(config.get("SYNC_DELTA_MARGIN", SYNC_DELTA_MARGIN)),
        "merge_while_reading": _flag(
            config.get("SYNC_MERGE_WHILE_READING", SYNC_MERGE_WHILE_READING)
        ),
        "change_rows_per_kind": int(
            config.get("SYNC_CHANGE_ROWS_PER_KIND", SYNC_CHANGE_ROWS_PER_KIND)
        ),
        "client_options": {
            "request_deadline": float(config["SYNC_REQUEST_DEADLINE"]),
            "retry_after_max": float(config["SYNC_RETRY_AFTER_MAX"]),
        },
    }
    values.update(overrides)
    return SyncEnvironment(**values)


def stored_connection_settings(
    integration: OneRosterIntegration,
    box: SecretBox,
    *,
    allow_private: bool,
    secret: str | None = None,
    **overrides,
) -> ConnectionSettings:
    """Client settings of a stored integration: its secret decrypted (``SecretUnreadable``
    when the encryption key changed) and the version and signature discovery remembered."""
    return ConnectionSettings(
        endpoint_url=integration.endpoint_url,
        client_id=integration.client_id,
        client_secret=secret or box.decrypt(integration.client_secret_encrypted),
        token_url=integration.token_url or None,
        allow_private=allow_private,
        version=integration.detected_version,
        oauth1_signature=_OAUTH1_SIGNATURES.get(integration.detected_auth or ""),
        **overrides,
    )
