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
