"""Browser-facing protections every response carries, and sign-in throttling.

A fixed header set, written here rather than through a library: the pages load only
the app's own static files (htmx, app.js, app.css), so one strict policy fits them all.
"""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sisapp.auth import throttle

# No inline script or style anywhere: htmx's indicator styles are in app.css
# (base.html turns off htmx's injected <style>).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# Only in production, which runs behind TLS: a development run on http:// must not
# teach the browser to insist on https for localhost.
HSTS = "max-age=31536000"


def register(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # The client's own address, not the proxy's, is what sign-in limits count per address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    headers = dict(HEADERS)
    if app.config.get("ENV") == "production":
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def _security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    throttle.init_app(app)
