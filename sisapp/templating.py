"""Template globals and filters."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user
from werkzeug.local import LocalProxy

from sisapp.auth.forms import EmptyForm
from sisapp.models import Region


def format_in_region(value: datetime | None, region: str | Region | None) -> str:
    if value is None:
        return "—"
    zone = ZoneInfo(Region(region).timezone) if region else ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%a %d %b %Y, %-I:%M %p %Z")


def register(app: Flask) -> None:
    app.jinja_env.filters["in_region"] = format_in_region

    @app.context_processor
    def inject():
        # Loaded on first use: the polled status fragment of a running sync never shows
        # the device, and saves the query.
        return {"current_device": LocalProxy(_current_device), "empty_form": EmptyForm}


def _current_device():
    return current_user.device if current_user.is_authenticated else None
