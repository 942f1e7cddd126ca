from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from sisapp.auth import bp
from sisapp.auth.forms import EmptyForm, LoginForm
from sisapp.auth.throttle import record_failed_sign_in
from sisapp.extensions import login_manager
from sisapp.models import AdminUser
from sisapp.services.accounts import admin_for_session, authenticate, begin_session, end_sessions


def _session_max_age() -> timedelta:
    """No session outlives remember-me's duration, even a captured cookie never signed out."""
    return timedelta(seconds=current_app.config["REMEMBER_COOKIE_DURATION"])


@login_manager.user_loader
def load_user(user_id: str) -> AdminUser | None:
    return admin_for_session(user_id, _session_max_age())


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in is a phishing aid."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("integrations.index")


@bp.get("/login")
def login():
    """Show the sign-in form."""
    if current_user.is_authenticated:
        return redirect(url_for("integrations.index"))
    return render_template("auth/login.html", form=LoginForm())


@bp.post("/login")
def login_post():
    """Check credentials; re-render with an error on failure (throttled: see throttle.py)."""
    form = LoginForm()
    if form.validate_on_submit():
        admin = authenticate(form.email.data, form.password.data)
        if admin:
            begin_session(admin, _session_max_age())
            login_user(admin, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        record_failed_sign_in()
        form.password.errors.append("Email or password is not right.")
    return render_template("auth/login.html", form=form), 200


@bp.post("/logout")
@login_required
def logout():
    """Sign out (POST with CSRF, so a link elsewhere cannot sign an admin out)."""
    if EmptyForm().validate_on_submit():
        end_sessions(current_user._get_current_object())
        logout_user()
        flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))
