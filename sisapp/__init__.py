"""School Manager's SIS Integration: a OneRoster roster-sync admin."""

import os
from pathlib import Path

from flask import Flask

from sisapp import config as default_config
from sisapp.extensions import csrf, db, login_manager, migrate
from sisapp.keys import ConfigurationError, ensure_key, new_encryption_key, new_secret_key

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
MIGRATIONS_DIR = str(PACKAGE_DIR / "migrations")


def _shipped(name: str) -> str:
    """templates/ or static/: inside the package in a wheel, beside it in the source tree."""
    packaged = PACKAGE_DIR / name
    return str(packaged if packaged.is_dir() else PROJECT_ROOT / name)


def _default_instance_path() -> str | None:
    """instance/ of the source tree; an installed wheel uses Flask's <prefix>/var/sisapp-instance."""
    return str(PROJECT_ROOT / "instance") if (PROJECT_ROOT / "pyproject.toml").is_file() else None


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("SISAPP_INSTANCE_PATH") or _default_instance_path(),
        instance_relative_config=True,
        template_folder=_shipped("templates"),
        static_folder=_shipped("static"),
    )
    load_config(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_cli(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    return app


def load_config(app: Flask, test_config: dict | None) -> None:
    """Defaults → instance/config.py → SISAPP_* environment → test overrides."""
    app.config.from_object(default_config)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("SISAPP")
    if os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if test_config:
        app.config.update(test_config)
    app.config["ALLOW_PRIVATE_SIS_URLS"] = _truthy(app.config.get("ALLOW_PRIVATE_SIS_URLS"))
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'sisapp.db'}"
        app.config["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(url)
    production = app.config.get("ENV") == "production"
    if production and "SISAPP_SESSION_COOKIE_SECURE" not in os.environ:
        # Behind TLS in production; SISAPP_SESSION_COOKIE_SECURE=false opts out.
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    ensure_key(app.config, "SECRET_KEY", app.instance_path, new_secret_key)
    ensure_key(app.config, "ENCRYPTION_KEY", app.instance_path, new_encryption_key)


def configure_logging(app: Flask) -> None:
    """LOG_FORMAT plain or json (sisapp.logging_setup); requests-oauthlib logs signed
    headers at DEBUG: never let those reach a log."""
    import logging

    from sisapp.logging_setup import configure

    configure(app.config)

    for name in ("requests_oauthlib", "oauthlib"):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _normalise_db_url(url: str) -> str:
    """Accept the postgres:// URLs hosting platforms hand out; use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "strong"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _configure_sqlite(app)


def _configure_sqlite(app: Flask) -> None:
    """Foreign keys on, and WAL so the web pages read while a worker writes a sync.

    ``synchronous=NORMAL``: in WAL mode a commit then waits for no fsync (the WAL is
    synced at checkpoints), which SQLite documents as safe from corruption; a power cut
    can lose the last commits, never half of one. With the default ``FULL`` every
    progress write of a running sync cost an fsync (tens of milliseconds on the
    development VM), on the thread that stages the rows read."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()


def register_blueprints(app: Flask) -> None:
    from sisapp.account import bp as account_bp
    from sisapp.auth import bp as auth_bp
    from sisapp.directory import bp as directory_bp
    from sisapp.integrations import bp as integrations_bp
    from sisapp.integrations.routes import home
    from sisapp.ops import bp as ops_bp

    app.add_url_rule("/", "home", home)
    app.register_blueprint(account_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(directory_bp)
    app.register_blueprint(integrations_bp)
    app.register_blueprint(ops_bp)


def register_security(app: Flask) -> None:
    from sisapp.security import register as register_protections

    register_protections(app)


def register_cli(app: Flask) -> None:
    from sisapp.cli import register

    register(app)


def register_errorhandlers(app: Flask) -> None:
    from sisapp.errors import register as register_errors

    register_errors(app)


def register_template_helpers(app: Flask) -> None:
    from sisapp.templating import register as register_templating

    register_templating(app)


__all__ = ["ConfigurationError", "create_app"]
