"""Fixtures for the SIS Integration page tests (CSRF on, as in production)."""

import pytest

from tests.factories import make_integration


@pytest.fixture
def integration(device):
    return make_integration(device)


@pytest.fixture
def hx(csrf_token):
    """Headers htmx sends: HX-Request and the CSRF token from <body hx-headers>."""
    return {"HX-Request": "true", "X-CSRFToken": csrf_token}


def form_data(csrf_token: str, **fields) -> dict:
    """A valid Add OneRoster Sync submission, with `fields` overriding."""
    data = {
        "csrf_token": csrf_token,
        "sis_vendor": "other",
        "name": "Demo District",
        "endpoint_url": "https://sis.example.org/ims/oneroster/v1p1",
        "token_url": "",
        "client_id": "client-abc",
        "client_secret": "top-secret-value-123",
        "sync_classes": "y",
        "relationship_type": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}
