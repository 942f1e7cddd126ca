"""`flask --app app ...` commands. Their names, options and exit codes are a contract."""

from flask import Flask

# Long-running `flask --app app ...` commands that `dev` starts beside the web server.
BACKGROUND_COMMANDS: list[list[str]] = [["worker"], ["scheduler"]]


def register(app: Flask) -> None:
    from sisapp.cli.accounts import admin_cli, device_cli
    from sisapp.cli.demo_sis import demo_sis_command
    from sisapp.cli.dev import dev_command
    from sisapp.cli.directory import directory_cli
    from sisapp.cli.docs import docs_cli
    from sisapp.cli.integrations import integration_cli
    from sisapp.cli.jobs import register as register_jobs
    from sisapp.cli.oneroster import oneroster_cli
    from sisapp.cli.sync import sync_cli

    for group in (device_cli, admin_cli, directory_cli, dev_command):
        app.cli.add_command(group)
    register_jobs(app)
    for group in (oneroster_cli, demo_sis_command, integration_cli, sync_cli, docs_cli):
        app.cli.add_command(group)
