"""Config layering and the keys the app refuses to run without in production."""

import pytest

from sisapp import create_app
from sisapp.keys import ConfigurationError, SecretBox


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("SISAPP_INSTANCE_PATH", str(tmp_path))
    for name in ("SISAPP_SECRET_KEY", "SISAPP_ENCRYPTION_KEY", "SISAPP_ENV", "SISAPP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_defaults_use_sqlite_in_instance_folder(instance):
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'sisapp.db'}"
    assert app.template_folder.endswith("templates") and "sisapp" not in app.template_folder
    assert app.static_folder.endswith("static")


def test_sqlite_connections_commit_without_waiting_for_a_sync_to_disk(instance):
    """WAL with synchronous=NORMAL (1): a commit waits for no fsync, so a sync's
    progress writes do not stall the thread staging the rows it reads."""
    from sisapp.extensions import db

    app = create_app()
    with app.app_context(), db.engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "synchronous", "foreign_keys")}  # fmt: skip
    assert pragmas == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1}


def test_layers_instance_file_then_env_then_test_config(instance, monkeypatch):
    (instance / "config.py").write_text(
        "DIRECTORY_PAGE_SIZE = 7\nRQ_QUEUE = 'from-file'\nREDIS_URL='redis://file'\n"
    )
    monkeypatch.setenv("SISAPP_RQ_QUEUE", "from-env")
    monkeypatch.setenv("SISAPP_DATABASE_URL", "postgres://u@db.example/prod")
    app = create_app({"REDIS_URL": "redis://test"})
    assert app.config["DIRECTORY_PAGE_SIZE"] == 7
    assert app.config["RQ_QUEUE"] == "from-env"
    assert app.config["REDIS_URL"] == "redis://test"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/prod"


def test_development_generates_keys_once_and_keeps_them(instance):
    first = create_app()
    second = create_app()
    assert first.config["SECRET_KEY"] and first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["ENCRYPTION_KEY"] == second.config["ENCRYPTION_KEY"]
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_keys(instance, monkeypatch, missing):
    monkeypatch.setenv("SISAPP_ENV", "production")
    present = {"SECRET_KEY", "ENCRYPTION_KEY"} - {missing}
    for name in present:
        monkeypatch.setenv(f"SISAPP_{name}", "x" if name == "SECRET_KEY" else SecretBoxKey)
    with pytest.raises(ConfigurationError, match=f"{missing} is not set.*SISAPP_{missing}"):
        create_app()
    assert not (instance / missing.lower()).exists()


SecretBoxKey = "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0="


def test_production_marks_cookies_secure(instance, monkeypatch):
    monkeypatch.setenv("SISAPP_ENV", "production")
    monkeypatch.setenv("SISAPP_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SISAPP_ENCRYPTION_KEY", SecretBoxKey)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_secret_box_round_trip_and_wrong_key():
    box = SecretBox(SecretBoxKey)
    token = box.encrypt("s3cret-value")
    assert "s3cret-value" not in token
    assert box.decrypt(token) == "s3cret-value"
    from cryptography.fernet import Fernet

    other = SecretBox(Fernet.generate_key().decode())
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY has changed") as info:
        other.decrypt(token)
    assert "s3cret" not in str(info.value)
