import click
from flask.cli import AppGroup
from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import DirectoryUser
from sisapp.services.accounts import AccountError, get_device_by_name
from sisapp.services.directory import DirectoryImportError, import_directory_csv

directory_cli = AppGroup(
    "directory", help="The device's directory users (stand-in for LDAP/Azure/Google)."
)


@directory_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--device", "device_name", required=True)
def directory_import(file: str, device_name: str) -> None:
    """Upsert users from a CSV (email,given_name,family_name,kind,source); all or nothing."""
    try:
        device = get_device_by_name(device_name)
        with open(file, "rb") as fh:
            data = fh.read()
        summary = import_directory_csv(device, data)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    except DirectoryImportError as exc:
        for error in exc.errors[:50]:
            click.echo(error, err=True)
        if len(exc.errors) > 50:
            click.echo(f"... and {len(exc.errors) - 50} more", err=True)
        raise click.ClickException(
            f"{file} was not imported ({len(exc.errors)} bad row(s)); the directory is unchanged."
        ) from exc
    click.echo(f"Imported {file}: {summary}.")


@directory_cli.command("list")
@click.option("--device", "device_name", required=True)
def directory_list(device_name: str) -> None:
    """Print the device's users as CSV."""
    try:
        device = get_device_by_name(device_name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("email,given_name,family_name,kind,source")
    stmt = (
        select(DirectoryUser)
        .where(DirectoryUser.device_id == device.id)
        .order_by(DirectoryUser.email)
        .execution_options(yield_per=1000)
    )
    import csv
    import sys

    writer = csv.writer(sys.stdout, lineterminator="\n")
    for user in db.session.scalars(stmt):
        writer.writerow(
            [user.email, user.given_name, user.family_name, user.kind.value, user.source]
        )
