"""Sync, Preview, their live status fragment, Cancel, View Log and the unmatched users of a run."""

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context
from flask import url_for as _url_for
from flask_login import current_user, login_required

from sisapp.integrations import bp
from sisapp.integrations.changes import LOG_ROWS, StatusExtras, status_extras
from sisapp.integrations.common import integration_or_404, is_htmx, render_dialog
from sisapp.models import SyncTrigger
from sisapp.services import run_views
from sisapp.services.change_sets import preview_sync, run_changes
from sisapp.services.sync_runs import cancel_run, recent_runs, request_sync


def _run_or_404(integration_id: int, run_id: int):
    run = run_views.run_of(current_user.device_id, integration_id, run_id)
    if run is None:
        abort(404)
    return run


def _status(integration_id: int, run, notice: str | None = None, basis=None):
    """The fragment; an ended run also re-decides the "Settings changed" banner (a
    successful sync clears it without a reload), the polls of a running one do not."""
    changed, extras = False, StatusExtras()
    if run is not None and not run.status.is_active:
        integration = integration_or_404(integration_id)
        changed = not run.is_preview and run_views.settings_changed(integration, run)
        extras = status_extras(integration, run)
    return render_template(
        "integrations/_status.html",
        integration_id=integration_id,
        run=run,
        notice=notice,
        settings_changed=changed,
        basis=basis,
        extras=extras,
    )


@bp.post("/<int:integration_id>/sync")
@login_required
def sync(integration_id: int):
    """Queue a sync (or show the one already queued/running) and answer with its status."""
    integration = integration_or_404(integration_id)
    run, created = request_sync(integration, SyncTrigger.MANUAL)
    notice = None if created else "A sync is already in progress; here is its progress."
    if not is_htmx():
        flash(notice or f"Sync of “{integration.name}” was queued.", "info")
        return redirect(_url_for("integrations.index"))
    return _status(integration.id, run, notice, run_views.previous_basis(run))


@bp.post("/<int:integration_id>/preview")
@login_required
def preview(integration_id: int):
    """Queue a preview (reads and computes like a sync, applies nothing) and answer with
    its status; a preview already queued or running answers instead."""
    integration = integration_or_404(integration_id)
    run, created = preview_sync(integration)
    notice = None if created else "A preview is already in progress; here is its progress."
    if not is_htmx():
        flash(notice or f"Preview of “{integration.name}” was queued.", "info")
        return redirect(_url_for("integrations.index"))
    return _status(integration.id, run, notice, run_views.previous_basis(run))


@bp.get("/<int:integration_id>/runs/<int:run_id>/status")
@login_required
def status(integration_id: int, run_id: int):
    """The polled fragment: one small query, never a SIS call (the estimate's basis
    comes back in the URL the first fragment rendered)."""
    basis = run_views.RunBasis.from_param(request.args.get("basis"))
    return _status(integration_id, _run_or_404(integration_id, run_id), basis=basis)


@bp.post("/<int:integration_id>/runs/<int:run_id>/cancel")
@login_required
def cancel(integration_id: int, run_id: int):
    """Ask the run to stop; the worker stops between pages and marks it cancelled."""
    run = _run_or_404(integration_id, run_id)
    cancel_run(run)
    if not is_htmx():
        flash("Cancelling the sync.", "info")
        return redirect(_url_for("integrations.index"))
    run = run_views.run_of(current_user.device_id, integration_id, run_id)
    return _status(
        integration_id, run, basis=run_views.RunBasis.from_param(request.args.get("basis"))
    )


def _chosen_run(integration_id: int, runs: list):
    """The run picked in View Log (newest by default); another device's run answers 404."""
    chosen = request.args.get("run", type=int)
    if not chosen:
        return runs[0] if runs else None
    return next((r for r in runs if r.id == chosen), None) or _run_or_404(integration_id, chosen)


@bp.get("/<int:integration_id>/log")
@login_required
def log(integration_id: int):
    """View Log: the chosen run's (newest by default) change set by kind and last lines;
    older lines on request."""
    integration = integration_or_404(integration_id)
    runs = recent_runs(integration)
    run = _chosen_run(integration_id, runs)
    before = request.args.get("before", type=int)
    context = {"integration": integration, "run": run}
    context["page"] = run_views.log_page(run, before) if run else None
    if before is not None and is_htmx():
        return render_template("integrations/_log_lines.html", **context)
    changes = run_changes(run, limit=LOG_ROWS) if run and run.changes is not None else []
    return render_dialog(
        "integrations/_dialog_log.html",
        "Sync log",
        runs=runs,
        before=before,
        changes=changes,
        **context,
    )


@bp.get("/<int:integration_id>/runs/<int:run_id>/log.txt")
@login_required
def log_download(integration_id: int, run_id: int):
    """The run's whole log as a text download, streamed in batches."""
    run = _run_or_404(integration_id, run_id)
    return Response(
        stream_with_context(run_views.iter_log_text(run)),
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="sync-run-{run.id}.log"'},
    )


@bp.get("/<int:integration_id>/unmatched")
@login_required
def unmatched(integration_id: int):
    """SIS users of the last sync that matched no directory user by email."""
    integration = integration_or_404(integration_id)
    page = run_views.unmatched_page(integration, request.args.get("page", 1, type=int))
    return render_template("integrations/unmatched.html", integration=integration, page=page)


@bp.get("/<int:integration_id>/unmatched.csv")
@login_required
def unmatched_csv(integration_id: int):
    """The unmatched users as CSV, for fixing emails in the directory or the SIS."""
    integration = integration_or_404(integration_id)
    return Response(
        stream_with_context(run_views.iter_unmatched_csv(integration)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="unmatched-users-{integration.id}.csv"'
        },
    )
