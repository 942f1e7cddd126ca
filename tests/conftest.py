"""Fixtures: an app on a fresh database (SQLite, or PostgreSQL when
SISAPP_TEST_DATABASE_URL is set), clients signed in as admins of two devices.

Each pytest session gets its own PostgreSQL database, so parallel runs on one
server never see each other's rows.
"""

import os
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("SISAPP_INSTANCE_PATH", tempfile.mkdtemp(prefix="sisapp-test-instance-"))
os.environ.setdefault(
    "OAUTHLIB_INSECURE_TRANSPORT", ""
)  # keep oauthlib strict unless a test opts in

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from sisapp import create_app  # noqa: E402
from sisapp.extensions import db  # noqa: E402
from sisapp.keys import SecretBox  # noqa: E402
from sisapp.models import Region  # noqa: E402
from tests.helpers.app import csrf_from, login, make_admin, make_device, test_config  # noqa: E402

pytest_plugins = ["tests.helpers.demo_sis_fixtures"]

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def pytest_collection_modifyitems(items):
    """Mark every test under tests/browser (a conftest's pytestmark marks nothing), so
    `pytest -m "not browser"` runs the suite without Chromium."""
    for item in items:
        if BROWSER_TESTS in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    base = os.environ.get("SISAPP_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url = make_url(base)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"sisapp_test_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def _schema(database_url):
    """Create the schema once per session; tests empty the tables afterwards."""
    app = create_app(test_config(database_url))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return database_url


@pytest.fixture
def app_config():
    """Extra config for the `app` fixture; override in a module to change it."""
    return {}


@pytest.fixture
def app(_schema, app_config):
    app = create_app(test_config(_schema, **app_config))
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def device(app):
    return make_device("Northside High")


@pytest.fixture
def other_device(app):
    return make_device("Southside Academy", Region.AU)


@pytest.fixture
def admin(device):
    return make_admin(device, "it@northside.example")


@pytest.fixture
def other_admin(other_device):
    return make_admin(other_device, "it@southside.example")


@pytest.fixture
def auth_client(client, admin):
    response = login(client, admin.email)
    assert response.status_code == 302
    return client


@pytest.fixture
def csrf_token(auth_client):
    """A CSRF token for the signed-in session (as htmx would send it)."""
    return csrf_from(auth_client.get("/directory/").get_data(as_text=True))


@pytest.fixture
def box(app):
    """The app's SecretBox, for integrations created through the services."""
    return SecretBox(app.config["ENCRYPTION_KEY"])


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
