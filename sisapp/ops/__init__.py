"""Health checks and Prometheus metrics for load balancers and monitoring (no sign-in)."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from sisapp.ops import routes  # noqa: E402,F401
