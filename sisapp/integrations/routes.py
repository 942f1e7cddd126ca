"""The integration list, Add New / Edit with Test Connection, and the error-code page."""

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from sisapp.integrations import bp
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
from sisapp.services.connection_check import check_connection
from sisapp.services.directory import count_directory
from sisapp.services.error_codes import INTRO, SECTIONS, WHEN_TO_CONTACT_SUPPORT
from sisapp.services.integrations import create_integration, data_from, update_integration
from sisapp.services.run_views import overview


def home():
    """Admins land on the SIS Integration page (registered at "/" by the app factory)."""
    return redirect(url_for("integrations.index"))


@bp.get("/")
@login_required
def index():
    """The device's integrations, or what to do first when there are none."""
    return render_template(
        "integrations/index.html",
        rows=overview(current_user.device_id),
        directory_count=count_directory(current_user.device_id),
    )


@bp.get("/new")
@login_required
def choose():
    """Add New: pick the kind of integration (OneRoster is the one there is)."""
    return render_dialog("integrations/_dialog_choose.html", "Add New")


def _integration_dialog(form, integration=None, result=None):
    return render_dialog(
        "integrations/_dialog_integration.html",
        "Edit OneRoster Sync" if integration else "Add OneRoster Sync",
        form=form,
        integration=integration,
        result=result,
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
    form = IntegrationForm()
    integration = saved(
        form, lambda: create_integration(current_user.device_id, form.to_data(), secret_box())
    )
    if integration:
        return done(f"“{integration.name}” was added. Run Sync to import its data.")
    return _integration_dialog(form)


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
    form = IntegrationForm()
    if saved(form, lambda: update_integration(integration, form.to_data(), secret_box())):
        return done(
            f"“{integration.name}” was saved. A sync is needed for the changes to take effect.",
            "warn",
        )
    return _integration_dialog(form, integration)


def _test(form, integration=None):
    result = None
    if form.validate_on_submit():
        result = check_connection(
            form.to_data(), secret_box(), allow_private=allow_private(), integration=integration
        )
    if is_htmx():
        return render_template("integrations/_test_result.html", result=result, form=form)
    return _integration_dialog(form, integration, result)


@bp.post("/test-connection")
@login_required
def test_connection():
    """Test Connection for unsaved settings: version, auth mode and schools, or the error."""
    return _test(IntegrationForm())


@bp.post("/<int:integration_id>/test-connection")
@login_required
def test_connection_edit(integration_id: int):
    """Test Connection while editing; a blank secret tests the stored one."""
    return _test(IntegrationForm(), integration_or_404(integration_id))


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
