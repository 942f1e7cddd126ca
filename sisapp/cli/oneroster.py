"""``flask oneroster check``: test a SIS connection from the command line.

The command line is a contract (scripts and support staff use it): keep the command name,
its options and the JSON keys stable. The secret never appears on the command line
(shell history, process list): it comes from ``SISAPP_CLIENT_SECRET`` or a hidden prompt.
"""

from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import AppGroup

from sisapp.oneroster import ConnectionSettings, OneRosterClient

oneroster_cli = AppGroup("oneroster", help="Check and read a SIS over OneRoster.")

EXIT_OK = 0
EXIT_NOT_CONNECTED = 2


@oneroster_cli.command("check")
@click.option("--endpoint", required=True, help="OneRoster endpoint URL (server root or base).")
@click.option("--token-url", default=None, help="OAuth 2.0 token URL; omit for OAuth 1.0a.")
@click.option("--client-id", required=True, help="Client ID (OAuth consumer key).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
def check_command(endpoint: str, token_url: str | None, client_id: str, as_json: bool) -> None:
    """Authenticate, read one page of schools and report version, auth mode and count."""
    secret = os.environ.get("SISAPP_CLIENT_SECRET") or click.prompt(
        "Client secret", hide_input=True, err=True
    )
    settings = ConnectionSettings(
        endpoint_url=endpoint,
        client_id=client_id,
        client_secret=secret,
        token_url=token_url or None,
        allow_private=bool(current_app.config.get("ALLOW_PRIVATE_SIS_URLS", False)),
    )
    with OneRosterClient(settings, log=lambda message: click.echo(message, err=True)) as client:
        result = client.check()
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
    elif result.ok:
        click.echo(result.message)
    else:
        click.echo(f"Not connected: {result.message}")
    click.get_current_context().exit(EXIT_OK if result.ok else EXIT_NOT_CONNECTED)
