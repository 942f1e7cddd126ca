"""Every admin URL needs a sign-in, and one device's admin never reaches another's data."""

import re

import pytest

from sisapp import create_app
from tests.helpers.app import csrf_from, login

PUBLIC_ENDPOINTS = {"static", "auth.login", "auth.login_post", "home"}
# Load balancers and Prometheus call these without a session (tests/ops: /metrics needs a token).
PUBLIC_ENDPOINTS |= {"ops.healthz", "ops.readyz", "ops.metrics"}


def _routes():
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield pytest.param(rule.rule, method, id=f"{method} {rule.rule}")


def _fill(rule: str, ids: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule)


@pytest.mark.parametrize(("rule", "method"), list(_routes()))
def test_signed_out_is_sent_to_login(client, rule, method):
    # A valid CSRF token, so what refuses the request is the missing sign-in.
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    response = client.open(_fill(rule, {}), method=method, headers={"X-CSRFToken": token})
    assert response.status_code in (302, 401), response.status_code
    if response.status_code == 302:
        assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize(("rule", "method"), [p for p in _routes() if "<" in p.values[0]])
def test_other_devices_objects_answer_404(app, client, other_admin, rule, method, foreign_ids):
    login(client, other_admin.email)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/directory/").get_data(as_text=True))
    response = client.open(
        _fill(rule, foreign_ids),
        method=method,
        headers={"X-CSRFToken": token.group(1)},
    )
    assert response.status_code == 404


@pytest.fixture
def foreign_ids(admin):
    """Ids of objects that belong to `admin`'s device (not `other_admin`'s)."""
    import tests.factories as factories

    return factories.objects_of(admin.device)
