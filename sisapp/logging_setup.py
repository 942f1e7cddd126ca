"""Log output for the web, the workers and the scheduler: plain (default) or one JSON
object per line (``LOG_FORMAT = "json"``) that log collectors parse without a regex.

Lines written while a sync runs carry its ``run_id``, ``integration_id`` and
``device_id``: the sync task enters ``run_log_context(...)`` and a filter copies the
context onto every record. Only the standard ``logging`` machinery is used, so the
libraries' loggers (rq, rq-scheduler, gunicorn's app loggers) come out the same way.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

RUN_FIELDS = ("run_id", "integration_id", "device_id")

_run_context: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "sisapp_run_log_context", default=None
)


@contextmanager
def run_log_context(
    run_id: int | None = None,
    integration_id: int | None = None,
    device_id: int | None = None,
) -> Iterator[None]:
    """Tag every log line written inside the block (in this thread or task) with the run.

    Thread pools do not inherit context variables: submit with
    ``contextvars.copy_context().run`` to keep the tags in page-reading threads.
    """
    values = {"run_id": run_id, "integration_id": integration_id, "device_id": device_id}
    token = _run_context.set({k: int(v) for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        _run_context.reset(token)


def current_run_context() -> dict[str, int]:
    """The run tags of the current context ({} outside a run)."""
    return dict(_run_context.get() or {})


class RunContextFilter(logging.Filter):
    """Copies the current run tags onto the record (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_run_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO-8601 UTC), level, logger, message, the run
    tags when present, and the formatted exception or stack when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in RUN_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _format(config: Mapping) -> str:
    return str(config.get("LOG_FORMAT") or "plain").strip().lower()


def is_json(config: Mapping) -> bool:
    """True when LOG_FORMAT asks for JSON lines (then a process's own messages are log
    records too, so every line it writes parses)."""
    return _format(config) == "json"


class _OurHandler(logging.StreamHandler):
    """Marks the handler this module installed, so a second app in one process replaces it."""


def configure(config: Mapping) -> None:
    """Install (or remove) the JSON handler on the root logger as ``config`` says.

    The plain format leaves the root logger as it is (what each server does today);
    the JSON format writes every record at ``LOG_LEVEL`` and above to stderr.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
        root.setLevel(handler.previous_root_level)
    log_format = _format(config)
    if log_format not in ("plain", "json"):
        raise ValueError(f"LOG_FORMAT must be 'plain' or 'json', not {log_format!r}")
    if log_format == "plain":
        return
    handler = _OurHandler(sys.stderr)
    handler.previous_root_level = root.level
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RunContextFilter())
    root.addHandler(handler)
    root.setLevel(str(config.get("LOG_LEVEL") or "INFO").upper())
