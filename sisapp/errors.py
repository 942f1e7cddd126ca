"""Friendly error pages; htmx requests get a fragment instead of a whole page."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError

# What each error says to the admin: (status, title, message).
PAGES: dict[type[Exception] | int, tuple[int, str, str]] = {
    CSRFError: (
        400,
        "This form has expired",
        "Your session changed since this page was opened. Reload the page and try again.",
    ),
    404: (404, "Not found", "There is nothing here."),
    405: (405, "Not allowed", "That action is not available here."),
    500: (
        500,
        "Something went wrong",
        "The error was logged. Try again; if it persists, contact support.",
    ),
}


def _render(status: int, title: str, message: str):
    template = "errors/_message.html" if request.headers.get("HX-Request") else "errors/error.html"
    return render_template(template, status=status, title=title, message=message), status


def register(app: Flask) -> None:
    for error, page in PAGES.items():
        app.register_error_handler(error, lambda _exc, page=page: _render(*page))
