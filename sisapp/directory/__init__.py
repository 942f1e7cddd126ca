"""The read-only Directory page: which users exist to be matched."""

from flask import Blueprint

bp = Blueprint("directory", __name__, url_prefix="/directory")

from sisapp.directory import routes  # noqa: E402,F401
