"""Template globals and filters."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user

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
        device = current_user.device if current_user.is_authenticated else None
        return {"current_device": device, "empty_form": EmptyForm}
