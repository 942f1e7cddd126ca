"""Friendly error pages; htmx requests get a fragment instead of a whole page."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError


def _render(template: str, status: int, **ctx):
    if request.headers.get("HX-Request"):
        return render_template("errors/_message.html", status=status, **ctx), status
    return render_template(template, status=status, **ctx), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _render(
            "errors/error.html",
            400,
            title="This form has expired",
            message="Your session changed since this page was opened. Reload the page and try again.",
        )

    @app.errorhandler(404)
    def not_found(exc):
        return _render(
            "errors/error.html", 404, title="Not found", message="There is nothing here."
        )

    @app.errorhandler(405)
    def not_allowed(exc):
        return _render(
            "errors/error.html",
            405,
            title="Not allowed",
            message="That action is not available here.",
        )

    @app.errorhandler(500)
    def server_error(exc):
        return _render(
            "errors/error.html",
            500,
            title="Something went wrong",
            message="The error was logged. Try again; if it persists, contact support.",
        )
