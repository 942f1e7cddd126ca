"""The test app's config, and the devices, admins and sign-ins that tests build on it."""

import os
import re
import uuid

from sisapp.extensions import db
from sisapp.models import AdminUser, Device, Region

PASSWORD = "correct-horse-battery"

# A real Redis (the one CI starts on 127.0.0.1:6379); each session queues under its own name.
TEST_REDIS_URL = os.environ.get("SISAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_QUEUE = f"sisapp-test-{uuid.uuid4().hex[:8]}"


def test_config(database_url: str, **extra) -> dict:
    """The config of every test app: the session's database and queue, fixed keys."""
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


test_config.__test__ = False  # a helper, not a test pytest should collect


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
