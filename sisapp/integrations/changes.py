"""What a sync changes, on the pages: the change-set CSVs of View Log, the removals an
edit announces before Submit, and what the status fragment and the row show beside a run
(the refused change set of a blocked run, the last good Sync Details after a cancelled
attempt, the latest preview, the next full read).

Every look-up goes through ``sisapp.services.change_sets``; these views only choose what
to ask and which partial prints it.
"""

from dataclasses import dataclass, field
from datetime import datetime

from flask import Response, abort, render_template, request, stream_with_context
from flask_login import current_user, login_required

from sisapp.integrations import bp
from sisapp.integrations.common import integration_or_404
from sisapp.integrations.presenters import change_count, change_counts, changed_anything
from sisapp.models import CHANGE_KINDS, OneRosterIntegration, SyncRun, SyncStatus
from sisapp.services import run_views
from sisapp.services.change_sets import (
    GOOD,
    KindChanges,
    announced_removals,
    changes_csv,
    last_good_run,
    latest_previews,
    next_full_reads,
    run_changes,
)
from sisapp.services.sync_runs import latest_run

bp.add_app_template_global(change_counts)
bp.add_app_template_global(changed_anything)
bp.add_app_template_global(change_count)

# The first rows of each kind a blocked run (or a preview) shows; View Log shows more.
REFUSED_ROWS = 5
LOG_ROWS = 20


@dataclass(frozen=True)
class StatusExtras:
    """What the status fragment shows beside its run: the Sync Details of the last sync
    that applied when this attempt did not (after Cancel they stay visible), and the kinds
    of a blocked run's refused change set with their first rows."""

    last_good: SyncRun | None = None
    refused: list[KindChanges] = field(default_factory=list)


def status_extras(integration: OneRosterIntegration, run: SyncRun | None) -> StatusExtras:
    """Nothing for a queued or running run: the polled fragment stays one query."""
    if run is None or run.status.is_active:
        return StatusExtras()
    refused = []
    if run.status is SyncStatus.BLOCKED:
        refused = _refused(run)
    last_good = None
    if not run.is_preview and run.status not in GOOD:
        last_good = last_good_run(integration)
    return StatusExtras(last_good, refused)


def latest_blocked_changes(integration: OneRosterIntegration) -> list[KindChanges]:
    """The refused change set of the newest sync when it was blocked (what Allow these
    removals lets through), else nothing."""
    run = latest_run(integration)
    if run is None or run.status is not SyncStatus.BLOCKED:
        return []
    return _refused(run)


def _refused(run: SyncRun) -> list[KindChanges]:
    return [kind for kind in run_changes(run, limit=REFUSED_ROWS) if kind.total]


@dataclass(frozen=True)
class RowExtras:
    """The row's view of the change-set features: its run's extras, the latest preview
    (when newer than the newest sync) with its own, and when the next full read is."""

    status: StatusExtras
    preview: SyncRun | None
    preview_status: StatusExtras
    next_full_read: datetime | None


def rows_extras(rows: list[run_views.IntegrationRow]) -> dict[int, RowExtras]:
    """Each row's extras by integration id; the previews and the next full reads looked
    up once for the page, not once per row (docs/performance.md, issue 19 target 4)."""
    integrations = [row.integration for row in rows]
    previews = latest_previews(integrations)
    full_reads = next_full_reads(integrations, {row.integration.id: row.next_sync for row in rows})  # fmt: skip
    return {row.integration.id: _row_extras(row, previews, full_reads) for row in rows}


def _row_extras(row, previews: dict, full_reads: dict) -> RowExtras:
    integration, run = row.integration, row.run
    preview = previews.get(integration.id)
    if preview is not None and run is not None and preview.id < run.id:
        preview = None  # a sync has run since: that preview foretold the past
    return RowExtras(
        status_extras(integration, run),
        preview,
        status_extras(integration, preview),
        full_reads[integration.id],
    )


@bp.get("/<int:integration_id>/runs/<int:run_id>/changes.csv")
@login_required
def changes_download(integration_id: int, run_id: int):
    """One kind of a run's change set as CSV (who/what, change, reason), streamed."""
    run = run_views.run_of(current_user.device_id, integration_id, run_id)
    kind = request.args.get("kind", "")
    if run is None or kind not in CHANGE_KINDS:
        abort(404)
    name = f"sync-run-{run.id}-{kind.replace('_', '-')}.csv"
    return Response(
        stream_with_context(changes_csv(run, kind)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def announcement(
    integration: OneRosterIntegration | None,
    *,
    sync_classes: bool | None = None,
    excluded: list[str] | None = None,
) -> str:
    """What the next sync will remove if these settings are saved ("" for nothing):
    Sync Classroom Data unticked (Edit) or schools moved to Excluded (Exclude Schools)."""
    if integration is None:
        return ""
    changes: dict = {}
    if sync_classes is not None:
        changes["sync_classes"] = sync_classes
    if excluded is not None:
        changes["excluded_school_ids"] = list(excluded)
    return announced_removals(integration, changes).message


@bp.post("/<int:integration_id>/announced-removals")
@login_required
def announced(integration_id: int):
    """The Edit and Exclude Schools dialogs ask this on every change (htmx), so the admin
    reads what Submit will cost before pressing it. Nothing is saved. Read from the raw
    form: an unticked box sends nothing, and an empty post would give a form its defaults."""
    integration = integration_or_404(integration_id)
    dialog = request.args.get("dialog", "edit")
    if dialog == "edit":
        message = announcement(integration, sync_classes=bool(request.form.get("sync_classes")))
    elif dialog == "exclude":
        message = announcement(integration, excluded=request.form.getlist("excluded"))
    else:
        abort(404)
    return render_template("integrations/_announcement.html", message=message)
