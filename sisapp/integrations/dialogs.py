"""Exclude Schools, Reset, Delete and Allow these removals: a GET shows the dialog, a POST
acts (SourceHut style)."""

from flask_login import login_required

from sisapp.integrations import bp
from sisapp.integrations.changes import announcement, latest_blocked_changes
from sisapp.integrations.common import (
    allow_private,
    done,
    integration_or_404,
    render_dialog,
    saved,
    secret_box,
)
from sisapp.integrations.forms import ConfirmForm, ExcludeSchoolsForm
from sisapp.oneroster import OneRosterError
from sisapp.services.change_sets import allow_removals_once
from sisapp.services.connection_check import refresh_schools, school_lists
from sisapp.services.integrations import delete_integration, reset_integration, set_excluded_schools
from sisapp.sync import SyncError


def _exclude_dialog(integration, form, read_error=None):
    included, excluded = school_lists(integration)
    context = {"included": included, "excluded": excluded, "read_error": read_error}
    if form.is_submitted():  # without JavaScript the re-rendered dialog says it
        context["announcement"] = announcement(integration, excluded=form.excluded.data or [])
    return render_dialog(
        "integrations/_dialog_exclude.html",
        "Exclude Schools",
        integration=integration,
        form=form,
        **context,
    )


@bp.get("/<int:integration_id>/exclude-schools")
@login_required
def exclude(integration_id: int):
    """Included and Excluded Schools, from the last sync or the last fresh read."""
    return _exclude_dialog(integration_or_404(integration_id), ExcludeSchoolsForm())


@bp.post("/<int:integration_id>/exclude-schools")
@login_required
def exclude_post(integration_id: int):
    """Save the Excluded Schools list; the next sync skips them."""
    integration = integration_or_404(integration_id)
    form = ExcludeSchoolsForm()
    removals = announcement(integration, excluded=form.excluded.data or [])
    if saved(form, lambda: set_excluded_schools(integration, form.excluded.data or [])):
        message = f"Schools saved for “{integration.name}”. Run Sync to apply them."
        return done(message + (f" {removals}" if removals else ""), "warn")
    return _exclude_dialog(integration, form)


@bp.post("/<int:integration_id>/schools/refresh")
@login_required
def refresh(integration_id: int):
    """Read the school list from the SIS now (the admin asked; the list page never does)."""
    integration = integration_or_404(integration_id)
    form = ExcludeSchoolsForm()
    read_error = None
    if form.validate_on_submit():
        try:
            refresh_schools(integration, secret_box(), allow_private=allow_private())
        except (OneRosterError, SyncError) as exc:
            read_error = exc
    return _exclude_dialog(integration, ExcludeSchoolsForm(formdata=None), read_error)


# kind → (dialog title, service action, message after it; {name} is the integration's)
CONFIRMED_ACTIONS = {
    "reset": (
        "Reset",
        reset_integration,
        "“{name}” was reset. The next sync reads everything again.",
    ),
    "delete": (
        "Delete",
        delete_integration,
        "“{name}” was deleted. Its students, teachers and classrooms remain.",
    ),
    "allow_removals": (
        "Allow these removals",
        allow_removals_once,
        "A sync of “{name}” that may pass the safety threshold once was queued.",
    ),
}


def _confirm(integration, form, kind: str):
    # Allow these removals shows what the blocked sync refused (the admin's decision).
    refused = latest_blocked_changes(integration) if kind == "allow_removals" else []
    return render_dialog(
        "integrations/_dialog_confirm.html",
        CONFIRMED_ACTIONS[kind][0],
        integration=integration,
        form=form,
        kind=kind,
        refused=refused,
    )


def _act_when_understood(integration_id: int, kind: str):
    """Run Reset, Delete or Allow these removals once "I Understand" is ticked; otherwise
    show the dialog again."""
    integration = integration_or_404(integration_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _confirm(integration, form, kind)
    _title, action, message = CONFIRMED_ACTIONS[kind]
    name = integration.name
    action(integration)
    return done(message.format(name=name))


@bp.get("/<int:integration_id>/reset")
@login_required
def reset(integration_id: int):
    """Confirm Reset: explains that only the last sync date is cleared."""
    return _confirm(integration_or_404(integration_id), ConfirmForm(), "reset")


@bp.post("/<int:integration_id>/reset")
@login_required
def reset_post(integration_id: int):
    """Clear the last sync date (next sync is full); needs "I Understand"."""
    return _act_when_understood(integration_id, "reset")


@bp.get("/<int:integration_id>/delete")
@login_required
def delete(integration_id: int):
    """Confirm Delete: explains that students, teachers and classrooms stay."""
    return _confirm(integration_or_404(integration_id), ConfirmForm(), "delete")


@bp.post("/<int:integration_id>/delete")
@login_required
def delete_post(integration_id: int):
    """Delete the integration (synced users and classrooms stay); needs "I Understand"."""
    return _act_when_understood(integration_id, "delete")


@bp.get("/<int:integration_id>/allow-removals")
@login_required
def allow_removals(integration_id: int):
    """Confirm Allow these removals: what the blocked sync would remove, and why."""
    return _confirm(integration_or_404(integration_id), ConfirmForm(), "allow_removals")


@bp.post("/<int:integration_id>/allow-removals")
@login_required
def allow_removals_post(integration_id: int):
    """Queue a sync that may pass the safety threshold once; needs "I Understand"."""
    return _act_when_understood(integration_id, "allow_removals")
