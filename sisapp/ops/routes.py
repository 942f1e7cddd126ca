"""GET /healthz, /readyz and /metrics: read-only, exempt from CSRF and sign-in."""

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from sisapp.extensions import csrf, db
from sisapp.ops import bp
from sisapp.services import health, metrics

csrf.exempt(bp)

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz():
    """The process answers: no dependency is touched (a liveness probe)."""
    return jsonify(status="ok"), 200, NO_STORE


@bp.get("/readyz")
def readyz():
    """Database, Redis and a live worker, each named in the body; 503 if any is missing."""
    ready, body = health.readiness(db.engine, current_app.config)
    return jsonify(body), 200 if ready else 503, NO_STORE


@bp.get("/metrics", endpoint="metrics")
def metrics_view():
    """Prometheus exposition, for a bearer token only (404 while no token is configured)."""
    if not metrics.metrics_token(current_app.config):
        abort(404)
    if not metrics.token_matches(current_app.config, request.headers.get("Authorization")):
        return Response(
            "unauthorized\n", 401, {"WWW-Authenticate": "Bearer", **NO_STORE}, mimetype="text/plain"
        )
    try:
        body = metrics.exposition(current_app._get_current_object())
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.warning("metrics scrape failed: database unavailable")
        return Response("database unavailable\n", 503, NO_STORE, mimetype="text/plain")
    return Response(body, 200, NO_STORE, content_type=metrics.CONTENT_TYPE)
