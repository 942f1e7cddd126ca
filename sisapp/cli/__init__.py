"""`flask --app app ...` commands. Their names, options and exit codes are a contract."""

from flask import Flask

# Long-running `flask --app app ...` commands that `dev` starts beside the web server.
BACKGROUND_COMMANDS: list[list[str]] = [["worker"], ["scheduler"]]


def register(app: Flask) -> None:
    from sisapp.cli.accounts import admin_cli, device_cli
    from sisapp.cli.dev import dev_command
    from sisapp.cli.directory import directory_cli
    from sisapp.cli.jobs import register as register_jobs

    for group in (device_cli, admin_cli, directory_cli, dev_command):
        app.cli.add_command(group)
    register_jobs(app)

    from sisapp.demo_sis_cli import demo_sis_command
    from sisapp.oneroster_cli import oneroster_cli

    app.cli.add_command(oneroster_cli)
    app.cli.add_command(demo_sis_command)
    from sisapp.cli.integrations import integration_cli
    from sisapp.cli.sync import sync_cli

    app.cli.add_command(integration_cli)
    app.cli.add_command(sync_cli)
