"""Every template filter and global, registered in one place."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import current_user
from werkzeug.local import LocalProxy

from sisapp.auth.forms import EmptyForm
from sisapp.integrations.presenters import connection_result, run_status
from sisapp.models import Region
from sisapp.services.error_codes import code_info


def format_in_region(value: datetime | None, region: str | Region | None) -> str:
    if value is None:
        return "—"
    zone = ZoneInfo(Region(region).timezone) if region else ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%a %d %b %Y, %-I:%M %p %Z")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def iso_utc(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def register(app: Flask) -> None:
    app.jinja_env.filters.update(in_region=format_in_region, duration=format_duration)
    app.jinja_env.filters["iso_utc"] = iso_utc
    app.jinja_env.globals.update(
        code_info=code_info, run_status=run_status, connection_result=connection_result
    )

    @app.context_processor
    def inject():
        # Loaded on first use: the polled status fragment of a running sync never shows
        # the device, and saves the query.
        return {"current_device": LocalProxy(_current_device), "empty_form": EmptyForm}


def _current_device():
    return current_user.device if current_user.is_authenticated else None
