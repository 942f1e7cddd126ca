from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from sisapp.integrations import bp
from sisapp.services.directory import count_directory
from sisapp.services.integrations import list_integrations


@bp.get("/")
def home():
    """Admins land on the SIS Integration page."""
    return redirect(url_for("integrations.index"))


@bp.get("/sis-integration/")
@login_required
def index():
    """The device's integrations, or what to do first when there are none."""
    return render_template(
        "integrations/index.html",
        integrations=list_integrations(current_user.device_id),
        directory_count=count_directory(current_user.device_id),
    )
