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
    """Base of the app's error-code enums: one member per code, the single source of the
    error-codes page and docs/error-codes.md (``flask --app app docs error-codes``).

    A member is ``(code, meaning, action)`` or ``(code, meaning, action, operator_note)``:
    ``meaning`` is one plain sentence for a school IT admin, ``action`` what that admin
    does (often "contact Support with the error code"), ``operator_note`` the technical
    detail for whoever runs the server (settings, logs, workers); it may be left out.
    Members compare equal to their code string, so runs store plain codes.
    """

    meaning: str
    action: str
    operator_note: str

    def __new__(cls, code: str, meaning: str, action: str, operator_note: str = "") -> CodeTable:
        obj = str.__new__(cls, code)
        obj._value_ = code
        obj.meaning = meaning
        obj.action = action
        obj.operator_note = operator_note
        return obj

    def __str__(self) -> str:
        return self.value


class ErrorCode(CodeTable):
    """The OneRoster client's codes: (code, meaning, action, operator note)."""

    INVALID_SETTINGS = (
        "OR100",
        "The connection settings are incomplete or invalid.",
        "Fill in the endpoint URL, client ID and secret; check the URL is a full https:// address.",
        "Found by the settings check before any request is sent.",
    )
    URL_NOT_ALLOWED = (
        "OR101",
        "The endpoint or token URL is not a public https:// address.",
        "Use the public https:// address of the SIS, as its documentation gives it.",
        "The URL is not https, or its host resolves (or, when connecting, leads) to a "
        "loopback, private, link-local or reserved address. Private addresses are only "
        "allowed when SISAPP_ALLOW_PRIVATE_SIS_URLS=1 (development).",
    )
    UNREACHABLE = (
        "OR110",
        "School Manager could not reach the SIS: its address was not found or it refused "
        "the connection.",
        "Check the host name in the endpoint URL, and ask the SIS administrator to accept "
        "connections from School Manager (firewall, allow-list).",
        "DNS failure or connection refused; the run log and the worker log hold the network error.",
    )
    TLS_ERROR = (
        "OR111",
        "The secure (https) connection to the SIS failed, usually because of an invalid or "
        "untrusted certificate.",
        "Ask the SIS administrator to fix the server certificate (expired, wrong host name "
        "or missing intermediate).",
        "TLS handshake or certificate verification failed against the server's CA bundle.",
    )
    TIMEOUT = (
        "OR112",
        "The SIS did not answer in time, even after several tries.",
        "Check the SIS is up and try again; if it keeps happening, contact Support with the "
        "error code.",
        "Connect or read timeout after the client's retries. For a slow SIS raise the read "
        "timeout or lower SYNC_CONCURRENCY.",
    )
    BAD_CREDENTIALS = (
        "OR120",
        "The SIS refused the client ID or secret.",
        "Re-enter the client ID and secret from the SIS (they may have been regenerated) "
        "and check the OneRoster application is enabled there.",
        "HTTP 401 from the token URL or the API; the message quotes the SIS's "
        "imsx_description when it sends one.",
    )
    TOKEN_URL_FAILED = (
        "OR121",
        "The Token URL did not give School Manager an access token.",
        "Check the Token URL in the SIS documentation (e.g. PowerSchool: "
        "https://<server>/oauth/access_token). Leave it empty for OAuth 1.0a.",
        "The OAuth 2.0 client-credentials request was unreachable, not found, or answered "
        "without a token.",
    )
    SIGNATURE_INVALID = (
        "OR122",
        "The SIS rejected the signature on School Manager's requests (OAuth 1.0a).",
        "Re-enter the client secret; if it is right, ask the SIS vendor which signature "
        "method (HMAC-SHA256 or HMAC-SHA1) it expects.",
        "HTTP 401 naming the OAuth 1.0a signature.",
    )
    CLOCK_SKEW = (
        "OR123",
        "The SIS rejected the request's time stamp: the clocks of School Manager and the SIS "
        "disagree.",
        "Ask the SIS administrator to check the SIS server's clock; if it is right, contact "
        "Support with the error code.",
        "OAuth 1.0a timestamp or nonce refused. Synchronise this server's clock (NTP); the "
        "SIS tolerates only a few minutes of skew.",
    )
    FORBIDDEN_SCOPE = (
        "OR124",
        "The client ID and secret are valid but not allowed to read the roster data.",
        "In the SIS, grant the application the OneRoster roster read scopes "
        "(roster-core.readonly and roster.readonly) and access to the schools.",
        "HTTP 403 or an insufficient-scope answer.",
    )
    NOT_ONEROSTER = (
        "OR130",
        "No OneRoster service was found at the endpoint URL.",
        "Use the OneRoster base URL from the SIS documentation, e.g. "
        "https://<server>/ims/oneroster/v1p1 or .../ims/oneroster/rostering/v1p2.",
        "HTTP 404, or HTML where JSON was expected, at the endpoint's discovery requests.",
    )
    ENDPOINT_NOT_FOUND = (
        "OR131",
        "The SIS does not share one of the kinds of roster data the sync reads.",
        "Check in the SIS which OneRoster data it shares (schools, classes, users, "
        "enrollments) and that it is enabled.",
        "HTTP 404 on a collection path; the message names the path.",
    )
    REQUEST_REJECTED = (
        "OR132",
        "The SIS refused one of School Manager's requests.",
        "Try again later; if it keeps happening, contact Support with the error code.",
        "HTTP 4xx other than 401, 403, 404 and 429, for example a filter the SIS does not "
        "support; the message quotes the SIS's description.",
    )
    SERVER_ERROR = (
        "OR140",
        "The SIS kept reporting errors of its own, even after several tries.",
        "Try again later; if it keeps happening, ask the SIS administrator to check the SIS.",
        "HTTP 5xx after the client's retries; the SIS's server logs say why.",
    )
    RATE_LIMITED = (
        "OR141",
        "The SIS asked School Manager to send fewer requests, even after several tries.",
        "Schedule the sync outside the SIS's busy hours; if it keeps happening, contact "
        "Support with the error code.",
        "HTTP 429 after the client's retries. Lower SYNC_CONCURRENCY.",
    )
    MALFORMED_PAGE = (
        "OR150",
        "The SIS sent roster data that School Manager cannot read; the data of the last good "
        "sync is kept.",
        "Report it to the SIS vendor with the error code and the message shown with it.",
        "Bad JSON, a missing collection or a record without sourcedId; the message names the path.",
    )
    PAGING_STUCK = (
        "OR151",
        "The SIS sent the same page of data again and again, so the sync could not read "
        "everything.",
        "Report it to the SIS vendor, and contact Support with the error code for a workaround.",
        "The SIS ignores the offset parameter. Workaround: raise SYNC_PAGE_SIZE above the "
        "collection size.",
    )
    SCHOOL_READ_FAILED = (
        "OR160",
        "One school's data could not be read; the other schools were synced.",
        "See the reason shown with the error; the school is tried again on the next sync.",
        "Wraps the code of the underlying failure (cause_code, shown in the message) and "
        "names the school, so a sync can finish the other schools and mark the run partial. "
        "CANCELLED is never wrapped.",
    )
    CANCELLED = (
        "OR170",
        "The sync was cancelled on request.",
        "Nothing to do; start the sync again when you want.",
    )
    INTERNAL_ERROR = (
        "OR199",
        "An unexpected problem inside School Manager stopped the connection.",
        "Try again; if it happens again, contact Support with the error code and the time "
        "of the failure.",
        "A bug in the OneRoster client; the traceback is in the web or worker log.",
    )
    NO_SCHOOLS = (
        "OR152",
        "The SIS sent no organisation of type 'school', so there is nothing to sync.",
        "Ask the SIS administrator to export the schools as OneRoster organisations of type "
        "'school' (the message lists the types the SIS sent), then sync again.",
        "GET /orgs answered only orgs of other types (district, local, department ...); "
        "public sample data sets often do this.",
    )
    REQUEST_DEADLINE = (
        "OR113",
        "The SIS answered so slowly that one page took longer than the time allowed for it.",
        "Try the sync again later; if it keeps happening, ask the SIS vendor about the "
        "server's speed, or contact Support with the error code.",
        "One response kept arriving (headers or body trickling) past the request deadline "
        "(ConnectionSettings.request_deadline, 180 s by default); it is not retried. "
        "Check the SIS's response times and the network path; a smaller SYNC_PAGE_SIZE "
        "makes each page shorter.",
    )
    OAUTH2_REQUIRED = (
        "OR125",
        "The SIS uses OAuth 2.0 sign-in, but no Token URL was entered for it.",
        "Enter the SIS's OAuth 2.0 Token URL (from the SIS documentation, for PowerSchool "
        "https://<server>/oauth/access_token) and test the connection again.",
        "The 401 carried WWW-Authenticate: Bearer or an OAuth 2.0 error body, so OAuth 1.0a "
        "was not tried further.",
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
