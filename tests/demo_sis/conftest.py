"""Fixtures for the demo SIS tests: a small fixed-date district and a live server."""

from __future__ import annotations

import pytest

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district
from tests.helpers.demo_api import TODAY, bearer_session


@pytest.fixture(scope="session")
def district():
    """Shared read-only district; tests that change records generate their own."""
    return generate_district(DistrictSpec(schools=3, students=300, seed=7, today=TODAY))


@pytest.fixture
def server(district):
    with DemoSISServer(district, faults=Faults(seed=3)) as running:
        yield running


@pytest.fixture
def api(server):
    with bearer_session(server) as session:
        yield session
