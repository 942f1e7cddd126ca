"""Fixtures for the OneRoster client tests: a client with a fake resolver, clock and
sleep (the fake SIS they serve: tests/helpers/oneroster.py)."""

from __future__ import annotations

import pytest

from sisapp.oneroster import ConnectionSettings, OneRosterClient
from tests.helpers.oneroster import SECRET, V11, FakeClock, public_resolver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(clock, logs, sleeps):
    """Build a client with a fake resolver/clock/sleep; keyword args override settings."""
    clients = []

    def make(should_stop=None, **overrides) -> OneRosterClient:
        values = {
            "endpoint_url": V11,
            "client_id": "client-1",
            "client_secret": SECRET,
            "concurrency": 1,
        }
        values.update(overrides)
        client = OneRosterClient(
            ConnectionSettings(**values), log=logs.append, should_stop=should_stop
        )
        client._resolve = public_resolver
        client._sleep = sleeps.append
        client._clock = clock
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
