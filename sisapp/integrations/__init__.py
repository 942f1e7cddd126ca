"""Configuration > Authentication > SIS Integration."""

from flask import Blueprint

bp = Blueprint("integrations", __name__, url_prefix="/sis-integration")

from sisapp.integrations import changes, dialogs, filters, routes, runs  # noqa: E402,F401
