"""Fixtures for the sync engine tests: a live demo SIS on port 0 with a small district,
the device's directory imported from it, and helpers to create an integration and run
a sync in the foreground (the district and its credentials: tests/helpers/sync_district.py).
"""

from __future__ import annotations

import pytest

from sisapp.demo_sis import generate_district
from tests.helpers.demo_sis import add_integration, sync_in_foreground
from tests.helpers.sync_district import CLIENT_ID, CLIENT_SECRET, SPEC, TODAY


@pytest.fixture
def district():
    return generate_district(SPEC)


@pytest.fixture
def sis_credentials():
    """The demo SIS's client id and secret (its `sis` and `directory` fixtures:
    tests/helpers/demo_sis_fixtures.py)."""
    return CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def make_integration(directory, sis, box):
    def make(**options):
        secret = options.pop("secret", CLIENT_SECRET)
        return add_integration(directory, sis, box, CLIENT_ID, secret, **options)

    return make


@pytest.fixture
def sync(box):
    """Run one sync of an integration in the foreground and return the finished run."""

    def run(integration, full=False, **env):
        settings = {"box": box, "allow_private": True, "today": TODAY, "page_size": 100}
        settings["client_options"] = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05}
        settings.update(env)
        return sync_in_foreground(integration, full, settings)

    return run
