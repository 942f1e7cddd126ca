"""The migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from sisapp import create_app
from sisapp.extensions import db


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A database with nothing in it, of the same kind as the test database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"{url.database}_mig"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_match_models(empty_database_url):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "SECRET_KEY": "x",
            "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
        }
    )
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, db.metadata)
            tables = set(inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == []
    assert {t.name for t in db.metadata.sorted_tables} <= tables


def test_upgrade_gives_every_existing_admin_a_session_token_of_its_own(empty_database_url):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": empty_database_url,
            "SECRET_KEY": "x",
            "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
        }
    )
    with app.app_context():
        upgrade(revision="8d2f6a4c1e07")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO device (id, name, region, created_at) "
                    "VALUES (1, 'D', 'uk', CURRENT_TIMESTAMP)"
                )
            )
            for i in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO admin_user (id, email, password_hash, device_id, created_at) "
                        f"VALUES ({i}, 'a{i}@x.example', 'h', 1, CURRENT_TIMESTAMP)"
                    )
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT session_token, session_token_issued_at FROM admin_user")
            ).all()
        db.engine.dispose()
    tokens = [token for token, _ in rows]
    assert len(set(tokens)) == 2 and all(len(t) >= 40 for t in tokens)
    assert all(issued is not None for _, issued in rows)
