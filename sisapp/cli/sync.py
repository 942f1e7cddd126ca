"""``flask --app app sync run INTEGRATION_ID [--full] [--allow-large-removals] [--json]``
and ``sync preview INTEGRATION_ID [--json]``: one sync (or preview) in the foreground.

A contract (issues 5 and 16): a progress line while it runs (on stderr), then the Sync
Details; with ``--json`` one JSON object on the last line of stdout with the keys
``status``, ``unmatched_users``, ``matched_students``, ``matched_teachers``,
``imported_classes``, ``parents``, ``error_code``, ``message`` and ``changes`` (the
change set's counts by kind). Exit 0 succeeded (or previewed), 1 partial or blocked
(SY200), 2 failed (or cancelled, or no such integration), 3 refused: another sync of the
integration is queued or running (status ``refused``; nothing was run).
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sisapp.extensions import db
from sisapp.logging_setup import run_log_context
from sisapp.models import OneRosterIntegration, SyncRun, SyncStatus, SyncTrigger, empty_changes
from sisapp.services import notifications
from sisapp.sync import run_sync, sync_environment_from_config

sync_cli = AppGroup("sync", help="Run syncs of OneRoster integrations.")

EXIT_CODES = {SyncStatus.SUCCEEDED: 0, SyncStatus.PARTIAL: 1, SyncStatus.BLOCKED: 1,
              SyncStatus.PREVIEW: 0}  # fmt: skip
EXIT_FAILED = 2
EXIT_REFUSED = 3
DETAIL_KEYS = ("unmatched_users", "matched_students", "matched_teachers", "imported_classes", "parents")  # fmt: skip


def _fail(message: str, as_json: bool, status: str = "failed", code: int = EXIT_FAILED) -> None:
    click.echo(f"Error: {message}", err=True)
    if as_json:
        keys = ("status", *DETAIL_KEYS, "error_code", "message")
        payload = {**dict.fromkeys(keys), "status": status, "message": message}
        click.echo(json.dumps({**payload, "changes": empty_changes()}))
    click.get_current_context().exit(code)


def _refuse(integration_id: int, as_json: bool, preview: bool = False) -> None:
    kind = SyncRun.trigger == SyncTrigger.PREVIEW
    active = db.session.scalar(
        select(SyncRun.id).where(
            SyncRun.integration_id == integration_id,
            SyncRun.status.in_([SyncStatus.QUEUED, SyncStatus.RUNNING]),
            kind if preview else ~kind,
        )
    )
    what = "preview" if preview else "sync"
    message = f"A {what} of this integration is already queued or running (run {active})."
    _fail(message, as_json, "refused", EXIT_REFUSED)


@sync_cli.command("run")
@click.argument("integration_id", type=int)
@click.option("--full", is_flag=True, help="Read everything, not only changes since the last sync.")
@click.option(
    "--allow-large-removals",
    is_flag=True,
    help="Let this sync pass the safety threshold once (removals it blocked).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
def sync_run(integration_id: int, full: bool, allow_large_removals: bool, as_json: bool) -> None:
    """Run a sync of the integration now, in the foreground."""
    _run(integration_id, SyncTrigger.CLI, full, allow_large_removals, as_json)


@sync_cli.command("preview")
@click.argument("integration_id", type=int)
@click.option("--full", is_flag=True, help="Preview a full read, not only changes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
def sync_preview(integration_id: int, full: bool, as_json: bool) -> None:
    """Show what a sync would change now, without changing anything (exit 1: it would
    be blocked by the safety threshold)."""
    _run(integration_id, SyncTrigger.PREVIEW, full, False, as_json)


def _run(integration_id: int, trigger: SyncTrigger, full: bool, allow: bool, as_json: bool):
    integration = db.session.get(OneRosterIntegration, integration_id)
    if integration is None:
        return _fail(f"No integration with id {integration_id}.", as_json)
    run = SyncRun(
        integration_id=integration.id,
        device_id=integration.device_id,
        trigger=trigger,
        full=full,
    )
    db.session.add(run)
    if allow:  # the one-time consent, taken by this run (or the next if this one fails)
        integration.allow_large_removals = True
    try:  # one active run per integration: the partial unique index decides every race
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _refuse(integration_id, as_json, trigger is SyncTrigger.PREVIEW)

    def progress(state: dict) -> None:
        percent = 100 * state["progress_done"] // (state["progress_total"] or 1)
        line = f"{state['phase']}: {percent}%, {state['records_read']} records"
        click.echo(f"\r{line:<72}", nl=False, err=True)

    env = sync_environment_from_config(current_app.config, on_progress=progress)
    with run_log_context(run_id=run.id, integration_id=integration.id, device_id=integration.device_id):  # fmt: skip
        run = run_sync(run.id, env)
    notifications.run_ended(run.id)
    click.echo("", err=True)
    details = run.details()
    if not as_json:
        click.echo(f"Sync {run.id}: {details['status']}")
        for key in DETAIL_KEYS:
            click.echo(f"{key.replace('_', ' ').title()}: {details[key] if details[key] is not None else '-'}")  # fmt: skip
        for kind, changes in details["changes"].items():
            text = ", ".join(f"{n} {change}" for change, n in changes.items())
            click.echo(f"Changes, {kind.replace('_', ' ')}: {text}")
        if details["error_code"]:
            click.echo(f"{details['error_code']}: {details['message']}")
    else:
        click.echo(json.dumps(details))
    click.get_current_context().exit(EXIT_CODES.get(run.status, EXIT_FAILED))
