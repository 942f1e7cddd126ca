from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from sisapp.account import bp
from sisapp.account.forms import NotificationsForm
from sisapp.services.notifications import set_sync_emails


@bp.get("/notifications")
@login_required
def notifications():
    """The admin's Notifications setting."""
    form = NotificationsForm(sync_emails=current_user.notify_sync_results)
    return render_template("account/notifications.html", form=form)


@bp.post("/notifications")
@login_required
def notifications_post():
    """Switch the admin's sync emails on or off."""
    form = NotificationsForm()
    if not form.validate_on_submit():
        return render_template("account/notifications.html", form=form), 400
    set_sync_emails(current_user._get_current_object(), form.sync_emails.data)
    flash("Notifications saved.", "info")
    return redirect(url_for("account.notifications"))
