"""Failed sign-ins are throttled per account and per client address (Flask-Limiter).

Only failures count (`deduct_when`), so an admin who signs in often is never slowed down.
While a limit is exceeded even the right password is refused: otherwise guessing would
simply go on behind the lock. The counters live in Redis, shared by every web process.
"""

import hashlib
import logging
import time
from functools import partial

from flask import Flask, make_response, render_template, request
from flask_limiter import Limiter, RequestLimit

from sisapp.auth.forms import LoginForm

log = logging.getLogger(__name__)

SIGN_IN_ENDPOINT = "auth.login_post"
_FAILED = "sisapp.sign_in_failed"


def record_failed_sign_in() -> None:
    """Called by the sign-in view when a password was checked and was wrong."""
    # On the request, not `g`: `g` outlives the request when an app context was already pushed.
    request.environ[_FAILED] = True


def _sign_in_failed(_response) -> bool:
    return bool(request.environ.get(_FAILED))


def _submitted_email() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


def _account_key() -> str:
    # Hashed: counter keys in Redis need not list the accounts someone tried.
    return "account:" + hashlib.sha256(_submitted_email().encode()).hexdigest()


def _address_key() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _refuse(scope: str, limit: RequestLimit):
    """The sign-in page again, answering 429, saying how long to wait."""
    wait = max(1, int(limit.reset_at - time.time()))
    minutes = max(1, round(wait / 60))
    log.warning(
        "sign-in refused: too many failed sign-ins for this %s (limit %s; email %r, "
        "address %s); next try in %d min",
        scope,
        limit.limit,
        _submitted_email(),
        request.remote_addr,
        minutes,
    )
    unit = "minute" if minutes == 1 else "minutes"
    message = f"Too many failed sign-ins. Try again in {minutes} {unit}."
    page = render_template("auth/login.html", form=LoginForm(), refusal=message)
    response = make_response(page, 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _storage_uri(app: Flask) -> str:
    """Redis when the app has one; the embedded `dev` run (one process) counts in memory."""
    return app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://"


def init_app(app: Flask) -> Limiter:
    """A limiter of this app's own (its storage and key prefix come from this app's config),
    wrapped around the sign-in view."""
    uri = _storage_uri(app)
    options = {"socket_connect_timeout": 2, "socket_timeout": 2} if uri.startswith("redis") else {}
    limiter = Limiter(
        key_func=_address_key,
        storage_uri=uri,
        storage_options=options,
        strategy="moving-window",
        key_prefix=app.config.get("RATELIMIT_KEY_PREFIX") or app.config["RQ_QUEUE"],
        # A Redis outage must not stop sign-in: count in this process until it is back
        # (and a deduction that fails mid-request is logged, not a 500).
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    view = app.view_functions[SIGN_IN_ENDPOINT]
    for limits, key_func, scope in (
        (app.config["SIGN_IN_LIMITS_PER_ACCOUNT"], _account_key, "account"),
        (app.config["SIGN_IN_LIMITS_PER_ADDRESS"], _address_key, "address"),
    ):
        view = limiter.limit(
            limits,
            key_func=key_func,
            deduct_when=_sign_in_failed,
            on_breach=partial(_refuse, scope),
        )(view)
    app.view_functions[SIGN_IN_ENDPOINT] = view
    return limiter
