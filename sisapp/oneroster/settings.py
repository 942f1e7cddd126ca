"""Connection settings for one SIS.

The settings are plain data so the admin pages, the sync job and the CLI can build them
from whatever they store. ``version`` and ``oauth1_signature`` are hints remembered from an
earlier discovery; leaving them empty makes the client discover them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ErrorCode, OneRosterError

VERSIONS = ("v1p1", "v1p2")
OAUTH1_SIGNATURES = ("HMAC-SHA256", "HMAC-SHA1")


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to talk to one OneRoster server (the secret included: keep private)."""

    endpoint_url: str
    client_id: str
    client_secret: str = field(repr=False)
    token_url: str | None = None
    allow_private: bool = False
    # One-off reads use these; a sync passes its own (SYNC_* in sisapp/config.py).
    # 100 is OneRoster's default page size (``limit``).
    page_size: int = 100
    concurrency: int = 4
    max_retries: int = 6
    connect_timeout: float = 10
    read_timeout: float = 60
    scopes: list[str] | None = None
    version: str | None = None
    oauth1_signature: str | None = None
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_budget_seconds: float = 600
    # Whole-answer bound: per-read timeouts never end a SIS that trickles bytes.
    request_deadline: float = 180.0
    # A page that failed all its retries gets failed_page_passes (0 or 1) more rounds,
    # after failed_page_pause seconds (None: the wait the next retry would have had).
    failed_page_passes: int = 1
    failed_page_pause: float | None = None
    # Longest Retry-After honoured; None means backoff_max.
    retry_after_max: float | None = None
    # A climb of the SIS's latency by this many seconds (and to twice its usual) halves
    # the requests in flight, as a 429 does (sisapp/oneroster/limiter.py).
    latency_margin: float = 0.5

    def validate(self) -> None:
        """Raise ``OneRosterError(INVALID_SETTINGS)`` naming the first bad field."""

        def bad(message: str) -> OneRosterError:
            return OneRosterError(ErrorCode.INVALID_SETTINGS, message)

        for name in ("endpoint_url", "client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{name.replace('_', ' ')} is required.")
        for name in ("endpoint_url", "token_url"):
            value = getattr(self, name)
            if value is None or (name == "token_url" and not value.strip()):
                continue
            try:
                parts = urlsplit(value.strip())
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError:
                raise bad(f"{name.replace('_', ' ')} is not a valid URL.") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise bad(f"{name.replace('_', ' ')} must be a full https:// URL.")
            if parts.username or parts.password:
                raise bad(f"{name.replace('_', ' ')} must not contain a user name or password.")
        if self.version is not None and self.version not in VERSIONS:
            raise bad(f"version must be one of {', '.join(VERSIONS)}.")
        if self.oauth1_signature is not None and self.oauth1_signature not in OAUTH1_SIGNATURES:
            raise bad(f"oauth1 signature must be one of {', '.join(OAUTH1_SIGNATURES)}.")
        if not 1 <= int(self.page_size) <= 10000:
            raise bad("page size must be between 1 and 10000.")
        if not 1 <= int(self.concurrency) <= 32:
            raise bad("concurrency must be between 1 and 32.")
        if int(self.max_retries) < 0:
            raise bad("max retries must not be negative.")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.request_deadline <= 0:
            raise bad("timeouts must be positive.")
        if self.failed_page_pause is not None and self.failed_page_pause < 0:
            raise bad("failed page pause must not be negative.")
        if int(self.failed_page_passes) not in (0, 1):
            raise bad("failed page passes must be 0 or 1.")

    @property
    def token_url_or_none(self) -> str | None:
        """The token URL, with an empty string meaning "no OAuth 2" (OAuth 1.0a)."""
        return self.token_url.strip() if self.token_url and self.token_url.strip() else None
