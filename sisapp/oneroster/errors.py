"""Coded errors for the OneRoster client.

Every failure the client can meet becomes a :class:`OneRosterError` carrying a stable
:class:`ErrorCode`. The codes are a contract with IT admins (they appear in the admin
pages, the CLI and ``docs/error-codes.md``), so values never change meaning; new
failures get new codes.

Texts taken from a server (error bodies, headers) pass through :func:`redact` before they
reach a message: a misbehaving server may echo the Authorization header or a signature
back, and those must never end up in logs or run records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum


class CodeTable(StrEnum):
    """Base of the app's error-code enums: each member is (code, meaning, action).

    Members compare equal to their code string, so runs store plain codes while the
    pages look up what a code means and what the IT admin should do about it.
    """

    meaning: str
    action: str

    def __new__(cls, code: str, meaning: str, action: str) -> CodeTable:
        obj = str.__new__(cls, code)
        obj._value_ = code
        obj.meaning = meaning
        obj.action = action
        return obj

    def __str__(self) -> str:
        return self.value


class ErrorCode(CodeTable):
    """Stable error codes, each with a one-line meaning and the action for the IT admin."""

    INVALID_SETTINGS = (
        "OR100",
        "The connection settings are incomplete or invalid.",
        "Fill in the endpoint URL, client ID and secret; check the URL is a full https:// address.",
    )
    URL_NOT_ALLOWED = (
        "OR101",
        "The endpoint or token URL is not https, or resolves (or, when connecting, leads) "
        "to a loopback, private, link-local or reserved address.",
        "Use the public https:// address of the SIS. Private addresses are only allowed "
        "when SISAPP_ALLOW_PRIVATE_SIS_URLS=1 (development).",
    )
    UNREACHABLE = (
        "OR110",
        "The SIS host could not be reached (DNS failure or connection refused).",
        "Check the host name in the endpoint URL and that the SIS accepts connections "
        "from this server (firewall, allow-list).",
    )
    TLS_ERROR = (
        "OR111",
        "The TLS (https) connection failed, usually an invalid or untrusted certificate.",
        "Ask the SIS administrator to fix the server certificate (expired, wrong host name "
        "or missing intermediate).",
    )
    TIMEOUT = (
        "OR112",
        "The SIS did not answer in time, even after retries.",
        "Check the SIS is up; if it is slow, raise the read timeout or lower the concurrency.",
    )
    BAD_CREDENTIALS = (
        "OR120",
        "The SIS refused the client ID or secret.",
        "Re-enter the client ID and secret from the SIS (they may have been regenerated) "
        "and check the OneRoster application is enabled there.",
    )
    TOKEN_URL_FAILED = (
        "OR121",
        "The OAuth 2.0 token URL did not issue a token (unreachable, not found or an "
        "unexpected answer).",
        "Check the Token URL in the SIS documentation (e.g. PowerSchool: "
        "https://<server>/oauth/access_token). Leave it empty for OAuth 1.0a.",
    )
    SIGNATURE_INVALID = (
        "OR122",
        "The SIS rejected the OAuth 1.0a signature.",
        "Re-enter the client secret; if it is right, ask the SIS vendor which signature "
        "method (HMAC-SHA256 or HMAC-SHA1) it expects.",
    )
    CLOCK_SKEW = (
        "OR123",
        "The SIS rejected the request's timestamp or nonce: the clocks disagree.",
        "Synchronise this server's clock (NTP); the SIS tolerates only a few minutes of skew.",
    )
    FORBIDDEN_SCOPE = (
        "OR124",
        "The credentials are valid but not allowed to read this data (HTTP 403 or "
        "insufficient scope).",
        "In the SIS, grant the application the OneRoster roster read scopes "
        "(roster-core.readonly and roster.readonly) and access to the schools.",
    )
    NOT_ONEROSTER = (
        "OR130",
        "No OneRoster API was found at the endpoint URL (404 or HTML where JSON was expected).",
        "Use the OneRoster base URL from the SIS documentation, e.g. "
        "https://<server>/ims/oneroster/v1p1 or .../ims/oneroster/rostering/v1p2.",
    )
    ENDPOINT_NOT_FOUND = (
        "OR131",
        "The SIS does not offer this OneRoster collection (HTTP 404).",
        "Check which OneRoster collections the SIS exports and that they are enabled.",
    )
    REQUEST_REJECTED = (
        "OR132",
        "The SIS rejected the request (HTTP 4xx), for example a filter it does not support.",
        "Read the SIS's description in the message; report it to us if it persists.",
    )
    SERVER_ERROR = (
        "OR140",
        "The SIS kept answering with server errors (HTTP 5xx) after retries.",
        "Try again later; if it persists, ask the SIS administrator to check the server logs.",
    )
    RATE_LIMITED = (
        "OR141",
        "The SIS kept answering 'too many requests' (HTTP 429) after retries.",
        "Lower the concurrency or schedule the sync outside peak hours.",
    )
    MALFORMED_PAGE = (
        "OR150",
        "The SIS sent data that is not valid OneRoster (bad JSON, missing collection or a "
        "record without sourcedId).",
        "Report it to the SIS vendor with the path in the message; the run keeps the last "
        "good data.",
    )
    PAGING_STUCK = (
        "OR151",
        "The SIS returned the same page again: it ignores the offset parameter.",
        "Report it to the SIS vendor; as a workaround raise the page size above the "
        "collection size.",
    )
    SCHOOL_READ_FAILED = (
        "OR160",
        "Reading one school failed; the other schools were read.",
        "See the underlying code in the message; the school is retried on the next sync.",
    )
    CANCELLED = (
        "OR170",
        "The read was cancelled on request.",
        "Nothing to do; start the sync again when wanted.",
    )
    INTERNAL_ERROR = (
        "OR199",
        "An unexpected error inside the OneRoster client (a bug).",
        "Report it to the School Manager team with the time of the failure.",
    )
    NO_SCHOOLS = (
        "OR152",
        "The SIS sent no organisation of type 'school', so there is nothing to sync.",
        "Ask the SIS administrator to export the schools as OneRoster organisations of type "
        "'school' (the message lists the types the SIS sent), then sync again.",
    )
    REQUEST_DEADLINE = (
        "OR113",
        "One answer of the SIS took longer than the request deadline to arrive (it kept "
        "sending, but too slowly).",
        "Check the SIS's speed and the network to it; if its pages are large and slow, "
        "lower the page size or raise the request deadline.",
    )
    OAUTH2_REQUIRED = (
        "OR125",
        "The SIS wants OAuth 2.0, but no token URL was entered, so OAuth 1.0a was tried.",
        "Enter the SIS's OAuth 2.0 Token URL (from the SIS documentation, e.g. "
        "https://<server>/oauth/access_token) and test the connection again.",
    )


class OneRosterError(Exception):
    """A coded failure of the OneRoster client; ``str()`` is safe to show and log."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        status: int | None = None,
        path: str | None = None,
        detail: str | None = None,
        *,
        cause_code: ErrorCode | None = None,
        school_id: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.path = path
        self.detail = detail
        self.cause_code = cause_code
        self.school_id = school_id
        super().__init__(self.__str__())

    def __reduce__(self):
        """Picklable (job queues pickle exceptions) despite the keyword-only fields."""
        args = (self.code, self.message, self.status, self.path, self.detail)
        return (self.__class__, args, {"cause_code": self.cause_code, "school_id": self.school_id})

    def __str__(self) -> str:
        where = []
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.path:
            where.append(f"at {self.path}")
        suffix = f" ({' '.join(where)})" if where else ""
        return f"{self.code.value}: {self.message}{suffix}"

    def as_dict(self) -> dict:
        """JSON-ready form for run records and the CLI."""
        return {
            "code": self.code.value,
            "name": self.code.name,
            "message": self.message,
            "status": self.status,
            "path": self.path,
            "detail": self.detail,
            "cause_code": self.cause_code.value if self.cause_code else None,
            "school_id": self.school_id,
            "action": self.code.action,
        }


_SECRET_PATTERNS = [
    re.compile(r"(?i)(oauth_signature\s*=\s*)(\"[^\"]*\"|[^&,\s]+)"),
    re.compile(r"(?i)(authorization\s*[:=]\s*)(\S+(\s+\S+)?)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9\-._~+/]+=*)"),
    re.compile(
        r"(?i)(\"?(?:access_token|client_secret|refresh_token)\"?\s*[:=]\s*)(\"[^\"]*\"|[^&,\s]+)"
    ),
]


def redact(text: str | None, secrets: Iterable[str | None] = (), limit: int = 300) -> str | None:
    """Remove secrets, tokens and signatures from server-supplied text and shorten it."""
    if text is None:
        return None
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _find_status_info(data: object, depth: int = 0) -> dict | None:
    """Find an ``imsx_StatusInfo``-like dict (top level, nested or in statusInfoSet)."""
    if depth > 4:
        return None
    if isinstance(data, dict):
        if "imsx_codeMajor" in data or "imsx_description" in data:
            return data
        for value in data.values():
            found = _find_status_info(value, depth + 1)
            if found:
                return found
    elif isinstance(data, list):
        for value in data[:5]:
            found = _find_status_info(value, depth + 1)
            if found:
                return found
    return None


def describe_error_body(text: str | None) -> str | None:
    """Quote what a server said about an error: imsx status info or an OAuth error."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    info = _find_status_info(data)
    if info:
        parts = [
            f"{key}={info[key]}"
            for key in ("imsx_codeMajor", "imsx_severity", "imsx_description")
            if info.get(key) not in (None, "")
        ]
        minor = info.get("imsx_CodeMinor") or info.get("imsx_codeMinor")
        if isinstance(minor, dict):
            fields = minor.get("imsx_codeMinorField") or []
            if isinstance(fields, dict):
                fields = [fields]
            values = [f.get("imsx_codeMinorFieldValue") for f in fields if isinstance(f, dict)]
            values = [str(v) for v in values if v]
            if values:
                parts.append("imsx_codeMinor=" + ",".join(values))
        return "; ".join(parts) or None
    if isinstance(data, dict):
        parts = [
            f"{key}={data[key]}"
            for key in ("error", "error_description", "message", "description")
            if isinstance(data.get(key), str | int) and data.get(key) != ""
        ]
        return "; ".join(parts) or None
    return None
