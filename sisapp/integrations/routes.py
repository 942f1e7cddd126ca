"""The integration list, Add New / Edit with Test Connection, and the error-code page."""

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from sisapp.integrations import bp
from sisapp.integrations.changes import announcement, rows_extras
from sisapp.integrations.common import (
    allow_private,
    done,
    integration_or_404,
    is_htmx,
    render_dialog,
    saved,
    secret_box,
)
from sisapp.integrations.forms import IntegrationForm
from sisapp.integrations.presenters import RowUrls
from sisapp.services.connection_check import check_connection
from sisapp.services.directory import count_directory
from sisapp.services.error_codes import INTRO, SECTIONS, WHEN_TO_CONTACT_SUPPORT
from sisapp.services.integrations import (
    POWERSCHOOL_PARENTS,
    create_integration,
    data_from,
    list_integrations,
    update_integration,
)
from sisapp.services.run_views import overview


def home():
    """Admins land on the SIS Integration page (registered at "/" by the app factory)."""
    return redirect(url_for("integrations.index"))


@bp.get("/")
@login_required
def index():
    """The device's integrations, or what to do first when there are none."""
    rows = overview(current_user.device_id)
    return render_template(
        "integrations/index.html",
        rows=rows,
        extras=rows_extras(rows),
        directory_count=count_directory(current_user.device_id),
        url_for=RowUrls(),  # the rows' links built once per endpoint, not once per row
    )


@bp.get("/new")
@login_required
def choose():
    """Add New: pick the kind of integration (OneRoster is the one there is)."""
    return render_dialog("integrations/_dialog_choose.html", "Add New")


def _posted_form() -> IntegrationForm:
    """The posted dialog, with a secret kept from an earlier try put back in place."""
    form = IntegrationForm()
    form.restore_secret(secret_box())
    return form


def _same_endpoint(form, integration=None):
    """Another integration of the device that reads the endpoint in the form, if any:
    two integrations against one SIS import every class twice."""
    wanted = (form.endpoint_url.data or "").rstrip("/").lower()
    if not wanted:
        return None
    others = list_integrations(current_user.device_id)
    return next(
        (
            other
            for other in others
            if other.endpoint_url.rstrip("/").lower() == wanted
            and (integration is None or other.id != integration.id)
        ),
        None,
    )


def _integration_dialog(form, integration=None, result=None, same_endpoint=None):
    form.keep_secret(secret_box())
    return render_dialog(
        "integrations/_dialog_integration.html",
        "Edit OneRoster Sync" if integration else "Add OneRoster Sync",
        form=form,
        integration=integration,
        result=result,
        same_endpoint=same_endpoint,
        powerschool_parents=POWERSCHOOL_PARENTS,
        # A dialog posted without JavaScript says it on re-render (htmx asks on change).
        announcement=announcement(integration, sync_classes=form.sync_classes.data)
        if form.is_submitted()
        else "",
    )


@bp.get("/new/oneroster")
@login_required
def add():
    """The empty "Add OneRoster Sync" dialog."""
    return _integration_dialog(IntegrationForm())


@bp.post("/new/oneroster")
@login_required
def add_post():
    """Save a new integration, or re-render the dialog with field errors (nothing saved)."""
    form = _posted_form()
    same = _same_endpoint(form)
    if same and not form.same_endpoint_ok.data:
        form.validate_on_submit()  # field errors too, and the CSRF check
        return _integration_dialog(form, same_endpoint=same)
    integration = saved(
        form, lambda: create_integration(current_user.device_id, form.to_data(), secret_box())
    )
    if integration:
        return done(f"“{integration.name}” was added. Run Sync to import its data.")
    return _integration_dialog(form, same_endpoint=same)


@bp.get("/<int:integration_id>/edit")
@login_required
def edit(integration_id: int):
    """The dialog filled in from the stored settings; the secret field stays blank."""
    integration = integration_or_404(integration_id)
    return _integration_dialog(IntegrationForm(obj=data_from(integration)), integration)


@bp.post("/<int:integration_id>/edit")
@login_required
def edit_post(integration_id: int):
    """Save edits (a blank secret keeps the stored one); the integration then needs a sync."""
    integration = integration_or_404(integration_id)
    form = _posted_form()
    removals = announcement(integration, sync_classes=form.sync_classes.data)
    if saved(form, lambda: update_integration(integration, form.to_data(), secret_box())):
        return done(
            f"“{integration.name}” was saved. A sync is needed for the changes to take effect."
            + (f" {removals}" if removals else ""),
            "warn",
        )
    return _integration_dialog(form, integration)


def _test(form, integration=None):
    result = None
    if form.validate_on_submit():
        result = check_connection(
            form.to_data(), secret_box(), allow_private=allow_private(), integration=integration
        )
    same = _same_endpoint(form, integration)
    if is_htmx():
        return render_template(
            "integrations/_test_result.html", result=result, form=form, same_endpoint=same
        )
    return _integration_dialog(form, integration, result, same)


@bp.post("/test-connection")
@login_required
def test_connection():
    """Test Connection for unsaved settings: version, auth mode and schools, or the error."""
    return _test(_posted_form())


@bp.post("/<int:integration_id>/test-connection")
@login_required
def test_connection_edit(integration_id: int):
    """Test Connection while editing; a blank secret tests the stored one."""
    return _test(_posted_form(), integration_or_404(integration_id))


@bp.get("/error-codes")
@login_required
def error_codes():
    """Every error code: meaning and what to do for the admin, then the operator's notes."""
    return render_template(
        "integrations/error_codes.html",
        intro=INTRO,
        support=WHEN_TO_CONTACT_SUPPORT,
        sections=SECTIONS,
    )
