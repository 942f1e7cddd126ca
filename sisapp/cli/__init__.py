"""`flask --app app ...` commands. Their names, options and exit codes are a contract."""

from flask import Flask

# Long-running `flask --app app ...` commands that `dev` starts beside the web server.
BACKGROUND_COMMANDS: list[list[str]] = []


def register(app: Flask) -> None:
    from sisapp.cli.accounts import admin_cli, device_cli
    from sisapp.cli.dev import dev_command
    from sisapp.cli.directory import directory_cli

    for group in (device_cli, admin_cli, directory_cli, dev_command):
        app.cli.add_command(group)

    from sisapp.demo_sis_cli import demo_sis_command
    from sisapp.oneroster_cli import oneroster_cli

    app.cli.add_command(oneroster_cli)
    app.cli.add_command(demo_sis_command)
