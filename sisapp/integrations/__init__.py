"""Configuration > Authentication > SIS Integration."""

from flask import Blueprint

bp = Blueprint("integrations", __name__)

from sisapp.integrations import dialogs, routes, runs  # noqa: E402,F401
