"""Fixtures for the demo SIS tests: a small fixed-date district and a live server."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="session")
def district():
    """Shared read-only district; tests that change records generate their own."""
    return generate_district(DistrictSpec(schools=3, students=300, seed=7, today=TODAY))


@pytest.fixture
def server(district):
    with DemoSISServer(district, faults=Faults(seed=3)) as running:
        yield running


def bearer_session(server) -> requests.Session:
    """A requests session holding a fresh OAuth2 token for ``server``."""
    answer = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(server.client_id, server.client_secret),
        timeout=5,
    )
    answer.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]
    return session


@pytest.fixture
def api(server):
    with bearer_session(server) as session:
        yield session
