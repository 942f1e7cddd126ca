"""Sign-in for device admins."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from sisapp.auth import routes  # noqa: E402,F401
