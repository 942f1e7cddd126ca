"""Exclude Schools, Reset and Delete: a GET shows the dialog, a POST acts (SourceHut style)."""

from flask_login import login_required

from sisapp.integrations import bp
from sisapp.integrations.common import (
    allow_private,
    done,
    integration_or_404,
    render_dialog,
    secret_box,
)
from sisapp.integrations.forms import ConfirmForm, ExcludeSchoolsForm
from sisapp.oneroster import OneRosterError
from sisapp.services.connection_check import refresh_schools, school_lists
from sisapp.services.integrations import (
    IntegrationError,
    delete_integration,
    reset_integration,
    set_excluded_schools,
)


def _exclude_dialog(integration, form, read_error=None):
    included, excluded = school_lists(integration)
    return render_dialog(
        "integrations/_dialog_exclude.html",
        "Exclude Schools",
        integration=integration,
        form=form,
        included=included,
        excluded=excluded,
        read_error=read_error,
    )


@bp.get("/sis-integration/<int:integration_id>/exclude-schools")
@login_required
def exclude(integration_id: int):
    """Included and Excluded Schools, from the last sync or the last fresh read."""
    return _exclude_dialog(integration_or_404(integration_id), ExcludeSchoolsForm())


@bp.post("/sis-integration/<int:integration_id>/exclude-schools")
@login_required
def exclude_post(integration_id: int):
    """Save the Excluded Schools list; the next sync skips them."""
    integration = integration_or_404(integration_id)
    form = ExcludeSchoolsForm()
    if form.validate_on_submit():
        try:
            set_excluded_schools(integration, form.excluded.data or [])
        except IntegrationError as exc:
            form.excluded.errors = list(exc.errors.values())
        else:
            return done(f"Schools saved for “{integration.name}”. Run Sync to apply them.", "warn")
    return _exclude_dialog(integration, form)


@bp.post("/sis-integration/<int:integration_id>/schools/refresh")
@login_required
def refresh(integration_id: int):
    """Read the school list from the SIS now (the admin asked; the list page never does)."""
    integration = integration_or_404(integration_id)
    form = ExcludeSchoolsForm()
    read_error = None
    if form.validate_on_submit():
        try:
            refresh_schools(integration, secret_box(), allow_private=allow_private())
        except OneRosterError as exc:
            read_error = exc
    return _exclude_dialog(integration, ExcludeSchoolsForm(formdata=None), read_error)


def _confirm(integration, form, kind: str):
    return render_dialog(
        "integrations/_dialog_confirm.html",
        "Reset" if kind == "reset" else "Delete",
        integration=integration,
        form=form,
        kind=kind,
    )


@bp.get("/sis-integration/<int:integration_id>/reset")
@login_required
def reset(integration_id: int):
    """Confirm Reset: explains that only the last sync date is cleared."""
    return _confirm(integration_or_404(integration_id), ConfirmForm(), "reset")


@bp.post("/sis-integration/<int:integration_id>/reset")
@login_required
def reset_post(integration_id: int):
    """Clear the last sync date (next sync is full); needs "I Understand"."""
    integration = integration_or_404(integration_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        reset_integration(integration)
        return done(f"“{integration.name}” was reset. The next sync reads everything again.")
    return _confirm(integration, form, "reset")


@bp.get("/sis-integration/<int:integration_id>/delete")
@login_required
def delete(integration_id: int):
    """Confirm Delete: explains that students, teachers and classrooms stay."""
    return _confirm(integration_or_404(integration_id), ConfirmForm(), "delete")


@bp.post("/sis-integration/<int:integration_id>/delete")
@login_required
def delete_post(integration_id: int):
    """Delete the integration (synced users and classrooms stay); needs "I Understand"."""
    integration = integration_or_404(integration_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = integration.name
        delete_integration(integration)
        return done(f"“{name}” was deleted. Its students, teachers and classrooms remain.")
    return _confirm(integration, form, "delete")
