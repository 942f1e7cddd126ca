"""What the status and Test Connection partials show, decided in Python, not in Jinja.

Each function takes what a service returned and gives the labels, classes and error
advice a partial prints as they are; registered as template globals in sisapp.templating.
"""

import math
from dataclasses import dataclass

from flask import url_for

from sisapp.models import SyncRun, SyncStatus
from sisapp.services.error_codes import CodeInfo, code_info

RESULT_LABELS = {
    SyncStatus.SUCCEEDED: "Succeeded",
    SyncStatus.PARTIAL: "Partly succeeded",
    SyncStatus.FAILED: "Failed",
    SyncStatus.CANCELLED: "Cancelled",
    SyncStatus.BLOCKED: "Blocked",
    SyncStatus.PREVIEW: "Preview",
}
VERSION_LABELS = {"v1p1": "1.1", "v1p2": "1.2"}
AUTH_LABELS = {
    "oauth2": "OAuth 2.0 client credentials",
    "oauth1-hmac-sha256": "OAuth 1.0a (HMAC-SHA256)",
    "oauth1-hmac-sha1": "OAuth 1.0a (HMAC-SHA1)",
}


@dataclass(frozen=True)
class RunStatusView:
    """A run as the status fragment shows it: state while active, result once ended."""

    active: bool
    state: str = ""
    phase: str = ""
    result: str = ""
    notice_class: str = ""
    error: CodeInfo | None = None
    show_action: bool = False


def run_status(run: SyncRun | None) -> RunStatusView | None:
    if run is None:
        return None
    status = run.status
    if status.is_active:
        queued = status is SyncStatus.QUEUED
        phase = (run.phase or "starting").replace("_", " ").capitalize()
        return RunStatusView(
            active=True,
            state="Queued" if queued else "Running",
            phase="Waiting for a worker" if queued else phase,
        )
    return RunStatusView(
        active=False,
        result=RESULT_LABELS[status],
        notice_class="notice-warn"
        if status in (SyncStatus.PARTIAL, SyncStatus.BLOCKED, SyncStatus.PREVIEW)
        else "notice-error",
        error=code_info(run.error_code),
        show_action=status is SyncStatus.FAILED,
    )


def time_left(run: SyncRun, basis) -> str:
    """ "about 12 min left, based on the last sync", from the share of the last run's
    records read so far (or the progress steps); empty without a basis."""
    if basis is None or not basis.seconds or not run.started_at:
        return ""
    if basis.records and run.records_read:
        share = run.records_read / basis.records
    elif run.progress_total:
        share = run.progress_done / run.progress_total
    else:
        share = (run.duration_seconds or 0) / basis.seconds
    left = basis.seconds * (1 - min(share, 0.99))
    if left < 60:
        return "less than a minute left, based on the last sync"
    minutes = math.ceil(left / 60)
    if minutes < 60:
        return f"about {minutes} min left, based on the last sync"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min left, based on the last sync"


@dataclass(frozen=True)
class ConnectionResultView:
    """Test Connection's answer in words: version and sign-in method, or the error."""

    version: str
    auth: str
    error: CodeInfo | None


def connection_result(result) -> ConnectionResultView:
    return ConnectionResultView(
        version=VERSION_LABELS.get(result.version, result.version),
        auth=AUTH_LABELS.get(result.auth, result.auth),
        error=code_info(result.error_code),
    )


class RowUrls:
    """``url_for`` for a page of integration rows (the list page's template context).

    Each row links to the same endpoints with only its id differing, and building a URL
    through the router costs a page of 50 rows several hundred builds; this builds each
    endpoint once per request with a marker id and puts each row's id in its place. Any
    other call (more values, a non-int id) goes to ``url_for`` itself.
    """

    MARK = 987654321987

    def __init__(self) -> None:
        self._parts: dict[str, tuple[str, str] | None] = {}

    def __call__(self, endpoint: str, **values) -> str:
        integration_id = values.get("integration_id")
        if len(values) != 1 or type(integration_id) is not int or endpoint.startswith("."):
            return url_for(endpoint, **values)
        if endpoint not in self._parts:
            pieces = url_for(endpoint, integration_id=self.MARK).split(str(self.MARK))
            self._parts[endpoint] = (pieces[0], pieces[1]) if len(pieces) == 2 else None
        parts = self._parts[endpoint]
        if parts is None:
            return url_for(endpoint, **values)
        return f"{parts[0]}{integration_id}{parts[1]}"
