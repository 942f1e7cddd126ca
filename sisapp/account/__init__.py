"""The signed-in admin's own settings (sync emails)."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from sisapp.account import routes  # noqa: E402,F401
