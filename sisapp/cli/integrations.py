"""``flask --app app integration add|edit|list``: integrations from scripts and tests.

A contract (issue 5): keep the names, options and output. The client secret never
appears on the command line (shell history, process list): it comes from
``SISAPP_CLIENT_SECRET`` or a hidden prompt. ``add`` prints the new id alone on the
last line so scripts can capture it. ``edit`` changes only what its options name and
prints what the next sync will remove because of it (docs/sync-rules.md rule 12), as
the Edit dialog does.
"""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration, SisVendor
from sisapp.services.accounts import AccountError, get_device_by_name
from sisapp.services.change_sets import announced_removals
from sisapp.services.integrations import (
    IntegrationData,
    IntegrationError,
    create_integration,
    data_from,
    list_integrations,
    set_excluded_schools,
    update_integration,
)

integration_cli = AppGroup("integration", help="OneRoster integrations of a device.")


def _device(name: str):
    try:
        return get_device_by_name(name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@integration_cli.command("add")
@click.option("--device", "device_name", required=True, help="Name of the device.")
@click.option("--name", required=True, help="Name of the integration.")
@click.option(
    "--sis",
    required=True,
    type=click.Choice([v.value for v in SisVendor], case_sensitive=False),
    help="The SIS vendor.",
)
@click.option("--endpoint", required=True, help="OneRoster endpoint URL.")
@click.option("--token-url", default=None, help="OAuth 2.0 token URL; omit for OAuth 1.0a.")
@click.option("--client-id", required=True, help="Client ID (OAuth consumer key).")
@click.option("--no-classes", is_flag=True, help="Do not sync classroom data.")
@click.option("--respect-enrolment-date", is_flag=True, help="Skip students who left.")
@click.option("--respect-academic-sessions", is_flag=True, help="Only classes of current terms.")
@click.option(
    "--parents",
    type=click.Choice(["parent", "guardian", "relative"], case_sensitive=False),
    default=None,
    help="Sync parent data with this relationship type.",
)
@click.option("--exclude-school", "excluded", multiple=True, help="SIS sourcedId of a school to skip.")  # fmt: skip
@click.option("--max-concurrency", type=int, default=None, metavar="N",
              help="Most requests at once to the SIS (1-32); default SYNC_CONCURRENCY.")  # fmt: skip
def integration_add(device_name, name, sis, endpoint, token_url, client_id, no_classes,
                    respect_enrolment_date, respect_academic_sessions, parents, excluded,
                    max_concurrency) -> None:  # fmt: skip
    """Add an integration; the secret comes from SISAPP_CLIENT_SECRET or a prompt."""
    device = _device(device_name)
    secret = os.environ.get("SISAPP_CLIENT_SECRET") or click.prompt(
        "Client secret", hide_input=True, err=True
    )
    data = IntegrationData(
        name=name,
        sis_vendor=sis.lower(),
        endpoint_url=endpoint,
        token_url=token_url,
        client_id=client_id,
        client_secret=secret,
        sync_classes=not no_classes,
        respect_enrolment_date=respect_enrolment_date,
        respect_academic_sessions=respect_academic_sessions,
        sync_parents=parents is not None,
        relationship_type=parents.lower() if parents else None,
        excluded_school_ids=list(excluded),
        max_concurrency=max_concurrency,
    )
    try:
        integration = create_integration(
            device.id, data, SecretBox(current_app.config["ENCRYPTION_KEY"])
        )
    except IntegrationError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"Integration {integration.name!r} added to device {device.name!r}.")
    click.echo(str(integration.id))


@integration_cli.command("list")
@click.option("--device", "device_name", required=True, help="Name of the device.")
def integration_list(device_name: str) -> None:
    """List a device's integrations: id, name, SIS, endpoint, last sync."""
    device = _device(device_name)
    for integration in list_integrations(device.id):
        last = integration.last_sync_at.isoformat() if integration.last_sync_at else "never"
        click.echo(
            f"{integration.id}\t{integration.name}\t{integration.sis_vendor.value}\t"
            f"{integration.endpoint_url}\t{last}"
        )


@integration_cli.command("edit")
@click.argument("integration_id", type=int)
@click.option("--name", default=None, help="New name of the integration.")
@click.option("--sis", default=None, type=click.Choice([v.value for v in SisVendor], case_sensitive=False))  # fmt: skip
@click.option("--endpoint", default=None, help="OneRoster endpoint URL.")
@click.option("--token-url", default=None, help="OAuth 2.0 token URL ('' for OAuth 1.0a).")
@click.option("--client-id", default=None, help="Client ID (OAuth consumer key).")
@click.option("--classes/--no-classes", default=None, help="Sync classroom data, or stop.")
@click.option("--respect-enrolment-date/--no-respect-enrolment-date", default=None)
@click.option("--respect-academic-sessions/--no-respect-academic-sessions", default=None)
@click.option("--parents", type=click.Choice(["parent", "guardian", "relative", "none"], case_sensitive=False),  # fmt: skip
              default=None, help="Sync parent data with this relationship type ('none': stop).")  # fmt: skip
@click.option("--exclude-school", "excluded", multiple=True, help="Also exclude this school (sourcedId).")  # fmt: skip
@click.option("--include-all-schools", is_flag=True, help="Include every school (before --exclude-school).")  # fmt: skip
@click.option("--max-concurrency", type=int, default=None, metavar="N",
              help="Most requests at once to the SIS (1-32; 0: back to SYNC_CONCURRENCY).")  # fmt: skip
def integration_edit(integration_id, name, sis, endpoint, token_url, client_id, classes,
                     respect_enrolment_date, respect_academic_sessions, parents, excluded,
                     include_all_schools, max_concurrency) -> None:  # fmt: skip
    """Edit an integration; prints what the next sync will remove because of the edit.
    A new secret comes from SISAPP_CLIENT_SECRET when set; otherwise the stored one stays."""
    integration = db.session.get(OneRosterIntegration, integration_id)
    if integration is None:
        raise click.ClickException(f"No integration with id {integration_id}.")
    data = data_from(integration)
    for key, value in (("name", name), ("endpoint_url", endpoint), ("client_id", client_id),
                       ("token_url", token_url), ("sync_classes", classes),
                       ("respect_enrolment_date", respect_enrolment_date),
                       ("respect_academic_sessions", respect_academic_sessions)):  # fmt: skip
        if value is not None:
            setattr(data, key, value)
    if sis:
        data.sis_vendor = sis.lower()
    if max_concurrency is not None:
        data.max_concurrency = max_concurrency or None
    if parents:
        data.sync_parents = parents.lower() != "none"
        data.relationship_type = parents.lower() if data.sync_parents else None
    data.client_secret = os.environ.get("SISAPP_CLIENT_SECRET") or None
    schools = [] if include_all_schools else list(data.excluded_school_ids)
    schools = sorted(set(schools) | set(excluded))
    known = {s["sourced_id"] for s in integration.schools or []}
    if unknown := sorted(set(schools) - known):
        raise click.ClickException(("Unknown school: " if len(unknown) == 1 else "Unknown schools: ") + ", ".join(unknown))
    note = announced_removals(
        integration, {"sync_classes": data.sync_classes, "excluded_school_ids": schools}
    )
    try:
        update_integration(integration, data, SecretBox(current_app.config["ENCRYPTION_KEY"]))
        set_excluded_schools(integration, schools)
    except IntegrationError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"Integration {integration.name!r} updated; the next sync applies the changes.")
    if not note.empty:
        click.echo(note.message)
