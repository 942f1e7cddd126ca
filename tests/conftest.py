"""Fixtures: an app on a fresh database (SQLite, or PostgreSQL when
SISAPP_TEST_DATABASE_URL is set), clients signed in as admins of two devices.

Each pytest session gets its own PostgreSQL database, so parallel runs on one
server never see each other's rows.
"""

import os
import re
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
from sisapp.models import AdminUser, Device, Region  # noqa: E402

PASSWORD = "correct-horse-battery"


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
    app = create_app(_test_config(database_url))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return database_url


# A real Redis (the one CI starts on 127.0.0.1:6379); each session queues under its own name.
TEST_REDIS_URL = os.environ.get("SISAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_QUEUE = f"sisapp-test-{uuid.uuid4().hex[:8]}"


def _test_config(database_url: str, **extra) -> dict:
    config = {
        "REDIS_URL": TEST_REDIS_URL,
        "RQ_QUEUE": TEST_QUEUE,
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
        "ALLOW_PRIVATE_SIS_URLS": True,
    }
    config.update(extra)
    return config


@pytest.fixture
def app_config():
    """Extra config for the `app` fixture; override in a module to change it."""
    return {}


@pytest.fixture
def app(_schema, app_config):
    app = create_app(_test_config(_schema, **app_config))
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


def make_device(name: str, region: Region = Region.US_NZ) -> Device:
    device = Device(name=name, region=region)
    db.session.add(device)
    db.session.commit()
    return device


def make_admin(device: Device, email: str) -> AdminUser:
    admin = AdminUser(email=email, device=device)
    admin.set_password(PASSWORD)
    db.session.add(admin)
    db.session.commit()
    return admin


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


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def login(client, email: str, password: str = PASSWORD):
    page = client.get("/auth/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(
        "/auth/login", data={"email": email, "password": password, "csrf_token": token}
    )


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
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
