"""What the status and Test Connection partials show, decided in Python, not in Jinja.

Each function takes what a service returned and gives the labels, classes and error
advice a partial prints as they are; registered as template globals in sisapp.templating.
"""

import math
from dataclasses import dataclass

from flask import url_for

from sisapp.models import CHANGE_KINDS, SyncRun, SyncStatus
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


# The change-set kinds in the admin's words (docs/sync-rules.md rule 12).
CHANGE_LABELS = {
    "matched_users": "matched users",
    "unmatched_users": "unmatched users",
    "classrooms": "classrooms",
    "memberships": "classroom memberships",
    "parents": "parent contacts",
}


@dataclass(frozen=True)
class ChangeCount:
    """One kind of a run's change set as the Sync Details and View Log print it."""

    kind: str
    added: int
    removed: int
    renamed: int = 0

    @property
    def label(self) -> str:
        return CHANGE_LABELS[self.kind]

    @property
    def text(self) -> str:
        """ "+12 / −3 classrooms, 2 renamed" (a true minus sign: screen readers say it)."""
        text = f"+{self.added:,} / \u2212{self.removed:,} {self.label}"
        return text + (f", {self.renamed:,} renamed" if self.renamed else "")


def change_counts(changes: dict | None) -> list[ChangeCount]:
    """Every kind of a run's change-set counts, in the model's order; empty when the run
    ended before computing them (an old run, a failure before the apply)."""
    if changes is None:
        return []
    return [change_count(kind, changes.get(kind) or {}) for kind in CHANGE_KINDS]


def changed_anything(counted: list[ChangeCount]) -> bool:
    """False when every kind is +0 / −0: the page then says "Nothing changed." instead of
    five lines of zeros."""
    return any(c.added or c.removed or c.renamed for c in counted)


def change_count(kind: str, counts: dict) -> ChangeCount:
    return ChangeCount(
        kind, counts.get("added", 0), counts.get("removed", 0), counts.get("renamed", 0)
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


# The collections a sync reads, in reading order, as the status line names them.
COLLECTION_LABELS = {
    "schools": "schools",
    "orgs": "schools",
    "academicSessions": "academic sessions",
    "users": "users",
    "classes": "classes",
    "enrollments": "enrollments",
}


@dataclass(frozen=True)
class CollectionRead:
    """Records read of one collection and, when the SIS said so, how many to expect."""

    label: str
    read: int
    expected: int | None = None


def collections_read(run: SyncRun) -> list[CollectionRead]:
    """What the running sync has read so far, by collection, in reading order."""
    counts = run.read_counts or {}
    read, expected = counts.get("read") or {}, counts.get("expected") or {}
    merged: dict[str, list[int]] = {}
    for name, label in COLLECTION_LABELS.items():
        if name in read or name in expected:
            got = merged.setdefault(label, [0, 0])
            got[0] += int(read.get(name, 0))
            got[1] += int(expected.get(name, 0))
    return [
        CollectionRead(label, got, total if total >= got and total else None)
        for label, (got, total) in merged.items()
    ]


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
