"""What every SIS Integration view shares: htmx or full page, PRG, 404 for others' objects.

Each dialog has a full-page twin so the pages work without JavaScript: an htmx request
(`HX-Request`) gets just the `<dialog>`, a plain request gets it inside the layout.
"""

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, make_response, redirect, render_template, request
from flask import url_for as _url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration
from sisapp.services.integrations import IntegrationError, get_integration


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def secret_box() -> SecretBox:
    return SecretBox(current_app.config["ENCRYPTION_KEY"])


def allow_private() -> bool:
    return bool(current_app.config["ALLOW_PRIVATE_SIS_URLS"])


def integration_or_404(integration_id: int) -> OneRosterIntegration:
    """Another device's integration answers exactly like a missing one."""
    integration = get_integration(current_user.device_id, integration_id)
    if integration is None:
        abort(404)
    return integration


def render_dialog(template: str, title: str, **context):
    """The dialog alone for htmx (200 even when invalid: htmx 2 drops 4xx), else a page."""
    if is_htmx():
        return render_template(template, as_page=False, **context)
    return render_template(
        "integrations/dialog_page.html", dialog=template, title=title, as_page=True, **context
    )


def done(message: str, category: str = "success"):
    """After a successful POST: reload the list (htmx) or redirect to it (PRG)."""
    flash(message, category)
    target = _url_for("integrations.index")
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def saved(form: FlaskForm, save: Callable[[], Any]) -> Any:
    """Validate the form, then save: the save's result (True when it returns nothing), or
    None when the form or the service refused the data (the messages are on the form)."""
    if not form.validate_on_submit():
        return None
    try:
        result = save()
    except IntegrationError as exc:
        form.put_errors(exc.errors)
        return None
    return True if result is None else result
