import os

import click
from flask.cli import AppGroup

from sisapp.services.accounts import AccountError, add_admin, add_device, get_device_by_name

device_cli = AppGroup("device", help="School Manager devices (tenants).")
admin_cli = AppGroup("admin", help="Admins who sign in to a device.")


@device_cli.command("add")
@click.argument("name")
@click.option("--region", required=True, type=click.Choice(["us_nz", "au", "uk"]))
def device_add(name: str, region: str) -> None:
    """Add a device in a region (its region sets the Tue/Fri 6 PM sync time zone)."""
    try:
        device = add_device(name, region)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Device {device.name!r} added (region {device.region.value}, id {device.id}).")


@device_cli.command("list")
def device_list() -> None:
    """List devices."""
    from sqlalchemy import select

    from sisapp.extensions import db
    from sisapp.models import Device

    for device in db.session.scalars(select(Device).order_by(Device.name)):
        click.echo(f"{device.id}\t{device.name}\t{device.region.value}")


@admin_cli.command("add")
@click.argument("email")
@click.option(
    "--device", "device_name", required=True, help="Name of the device this admin manages."
)
def admin_add(email: str, device_name: str) -> None:
    """Add an admin; the password comes from SISAPP_ADMIN_PASSWORD or a prompt."""
    try:
        device = get_device_by_name(device_name)
        password = os.environ.get("SISAPP_ADMIN_PASSWORD") or click.prompt(
            "Password", hide_input=True, confirmation_prompt=True
        )
        admin = add_admin(email, password, device)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Admin {admin.email} added for device {device.name!r}.")
