"""Configuration > Authentication > SIS Integration."""

from flask import Blueprint

bp = Blueprint("integrations", __name__)

from sisapp.integrations import routes  # noqa: E402,F401
