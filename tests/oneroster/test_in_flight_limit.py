"""Requests in flight to one SIS: never above the integration's cap, halved when the SIS
answers 429 or its latency climbs, grown back by one per window of answers (AIMD)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from sisapp.oneroster import ConnectionSettings, OneRosterClient
from sisapp.oneroster.limiter import InFlightLimit
from tests.helpers.oneroster import FakeClock, LocalSIS, QuietHandler


def answer(limit: InFlightLimit, clock: FakeClock, latency: float, times: int = 1) -> None:
    for _ in range(times):
        with limit.slot():
            clock.now += latency


def test_a_429_halves_the_limit_once_per_window_and_it_grows_back_by_one_per_window():
    clock = FakeClock()
    limit = InFlightLimit(8, clock=clock)
    answer(limit, clock, 1.0, 3)
    limit.throttled()
    assert limit.limit == 4
    limit.throttled()  # the other requests of the same burst
    limit.throttled()
    assert limit.limit == 4 and limit.decreases == 1
    answer(limit, clock, 1.0, 3)
    assert limit.limit == 4  # not a whole window yet
    answer(limit, clock, 1.0, 1)
    assert limit.limit == 5
    answer(limit, clock, 1.0, 5)
    assert limit.limit == 6
    limit.throttled()  # a new window: halves again
    assert limit.limit == 3 and limit.decreases == 2
    answer(limit, clock, 1.0, 3 + 4 + 5 + 6 + 7)
    assert limit.limit == 8
    answer(limit, clock, 1.0, 50)
    assert limit.limit == 8  # never above the cap


def test_a_latency_climb_halves_the_limit_and_becomes_the_new_usual():
    clock = FakeClock()
    limit = InFlightLimit(8, clock=clock, latency_margin=0.5)
    answer(limit, clock, 1.0, 10)
    assert limit.limit == 8
    answer(limit, clock, 1.3, 10)  # +30%: noise, not a climb
    assert limit.limit == 8 and limit.decreases == 0
    answer(limit, clock, 4.0, 1)  # the running average climbs...
    assert limit.limit == 8
    answer(limit, clock, 4.0, 1)  # ...past twice the usual
    assert limit.limit == 4 and limit.decreases == 1
    answer(limit, clock, 4.0, 4 + 5 + 6 + 7)  # slower, but steadily so: back to the cap
    assert limit.limit == 8 and limit.decreases == 1


def test_small_absolute_climbs_do_not_count():
    clock = FakeClock()
    limit = InFlightLimit(8, clock=clock, latency_margin=0.5)
    answer(limit, clock, 0.01, 10)
    answer(limit, clock, 0.2, 20)  # 20 times slower, but only by 0.19 s
    assert limit.limit == 8 and limit.decreases == 0


def test_waiting_requests_hold_no_slot_and_a_failed_request_gives_its_slot_back():
    limit = InFlightLimit(1)
    with pytest.raises(RuntimeError), limit.slot():
        raise RuntimeError("no answer")
    assert limit.in_flight == 0
    with limit.slot():
        assert limit.in_flight == 1


# --- against a real HTTP server ------------------------------------------------------------


class CountingSIS(LocalSIS):
    """One paged collection, ``delay`` seconds per page, counting requests served at once;
    answers 429 to the requests numbered in ``throttle``."""

    def __init__(self, records: int, delay: float, throttle: range = range(0)) -> None:
        self.rows = [{"sourcedId": f"u{i:04d}", "status": "active"} for i in range(records)]
        self.delay = delay
        self.throttle = throttle
        self.count = 0
        self.max_after_429 = 0  # most at once among requests that arrived after a 429 burst
        super().__init__(_Handler)


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        server: CountingSIS = self.server
        with server.lock:
            server.count += 1
            number = server.count
            server.now += 1
            server.max = max(server.max, server.now)
        time.sleep(server.delay)
        with server.lock:
            server.now -= 1
        if number in server.throttle:
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        limit, offset = int(params.get("limit", 100)), int(params.get("offset", 0))
        body = json.dumps({"users": server.rows[offset : offset + limit]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Total-Count", str(len(server.rows)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def client_for(sis: CountingSIS, concurrency: int) -> OneRosterClient:
    settings = ConnectionSettings(
        endpoint_url=sis.url, client_id="c", client_secret="secret-xyz", page_size=10,
        concurrency=concurrency, allow_private=True, oauth1_signature="HMAC-SHA256",
        backoff_base=0.01, backoff_max=0.05,
    )  # fmt: skip
    return OneRosterClient(settings)


@pytest.mark.parametrize("cap", [1, 3, 5])
def test_the_sis_never_sees_more_requests_at_once_than_the_cap(cap):
    sis = CountingSIS(records=400, delay=0.02)
    try:
        with client_for(sis, cap) as client:
            assert len(list(client.users())) == 400
        assert sis.max <= cap
        assert sis.max == cap  # and the read does use the cap
        assert client.in_flight.peak <= cap
    finally:
        sis.stop()


def test_after_a_429_the_limit_halves_and_recovers_to_the_cap():
    # Requests 3-6 (the first concurrent burst after the first page) answer 429.
    sis = CountingSIS(records=1200, delay=0.01, throttle=range(3, 7))
    try:
        with client_for(sis, 8) as client:
            got = list(client.users())
            assert len(got) == 1200 and len({u.sourced_id for u in got}) == 1200
            assert client.in_flight.decreases >= 1
            assert client.in_flight.limit == 8  # 120 pages: plenty of windows to grow back
            assert client.retries >= 4
        assert sis.max <= 8
    finally:
        sis.stop()


def test_after_a_429_fewer_requests_are_sent_at_once():
    limit_seen = []
    sis = CountingSIS(records=600, delay=0.02, throttle=range(2, 3))
    try:
        with client_for(sis, 8) as client:
            original = client.in_flight.throttled

            def throttled():
                original()
                limit_seen.append(client.in_flight.limit)

            client.transport.on_throttle = throttled
            assert len(list(client.users())) == 600
        assert limit_seen == [4]
    finally:
        sis.stop()


def test_an_integrations_own_cap_is_the_syncs_concurrency(app, device):
    from sisapp.keys import SecretBox
    from sisapp.sync.environment import SyncEnvironment
    from tests.factories import make_integration

    env = SyncEnvironment(box=SecretBox(app.config["ENCRYPTION_KEY"]), concurrency=8)
    integration = make_integration(device)
    assert env.client_settings(integration).concurrency == 8
    integration.max_concurrency = 3
    assert env.client_settings(integration).concurrency == 3
