"""Lying totals, the second pass, Retry-After's cap, the request deadline against a
trickling server, OAuth 2.0 servers without a token URL, and the check's retry cap
(issue 17, items 1 and 3-6)."""

import socket
import threading
import time

import pytest

from sisapp.oneroster import ConnectionSettings, ErrorCode, OneRosterClient, OneRosterError
from tests.helpers.oneroster import ROOT, TOKEN_URL, V11, Collection, users

USERS = V11 + "/users"


def ids(records):
    return [record.sourced_id for record in records]


@pytest.mark.parametrize("total", [-98596497, 0, 30])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_capped_server_with_a_lying_total_is_read_to_the_end(
    make_client, requests_mock, logs, total, concurrency
):
    server = Collection(users(95), cap=30, total_value=total)
    requests_mock.get(USERS, json=server)
    client = make_client(page_size=100, concurrency=concurrency)
    assert ids(client.users()) == [f"u{i:04d}" for i in range(95)]
    assert len([line for line in logs if "wrong total" in line]) == 1


def test_a_total_equal_to_a_full_first_page_is_checked(make_client, requests_mock):
    server = Collection(users(25), total_value=10)  # the page's own row count
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10).users())) == 25


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_total_short_of_the_truth_reached_on_a_full_page_is_checked(
    make_client, requests_mock, concurrency
):
    """Some servers stop counting (a total capped at 10,000): one more page decides."""
    server = Collection(users(45), total_value=30)
    requests_mock.get(USERS, json=server)
    client = make_client(page_size=10, concurrency=concurrency)
    assert ids(client.users()) == [f"u{i:04d}" for i in range(45)]


def test_a_short_page_ends_once_the_server_filled_pages_of_that_size(make_client, requests_mock):
    requests_mock.get(USERS, json=Collection(users(30)))
    small = requests_mock.get(V11 + "/classes", json=Collection(users(7, "c"), key="classes"))
    client = make_client(page_size=10)
    list(client.classes())
    assert len(small.request_history) == 2  # one page alone could have been a silent cap
    list(client.users())  # pages of 10 filled
    list(client.classes())
    assert len(small.request_history) == 3


def test_a_page_failing_beyond_the_retry_cap_is_tried_once_more(
    make_client, requests_mock, sleeps, logs
):
    ok = {"json": {"users": users(2)}, "headers": {"X-Total-Count": "2"}}
    requests_mock.get(USERS, [{"status_code": 503}] * 4 + [ok])
    client = make_client(max_retries=2, failed_page_pause=7)
    assert len(list(client.users())) == 2
    assert 7.0 in sleeps or sum(s for s in sleeps if s == 1.0) == 7.0
    assert any("once more in 7.0s" in line for line in logs)


def test_retry_after_has_its_own_cap(make_client, requests_mock, sleeps):
    ok = {"json": {"users": users(2)}, "headers": {"X-Total-Count": "2"}}
    requests_mock.get(USERS, [{"status_code": 429, "headers": {"Retry-After": "40"}}, ok])
    list(make_client(backoff_max=30, retry_after_max=45).users())
    assert sleeps == [40.0]
    requests_mock.get(USERS, [{"status_code": 429, "headers": {"Retry-After": "40"}}, ok])
    sleeps.clear()
    list(make_client(retry_after_max=5).users())
    assert sleeps == [5.0]


class TricklingSIS:
    """Answers every request with headers at once, then a body one byte per 50 ms (or,
    with ``headers=True``, with a header line that never ends, one byte per 50 ms)."""

    def __init__(self, headers: bool = False) -> None:
        self.headers = headers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                conn.sendall(b"X-Padding: " if self.headers else b"Content-Length: 9999\r\n\r\n")
                while not self.stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.05)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
@pytest.mark.parametrize("public_only", [False, True], ids=["private-allowed", "public-only"])
def test_a_trickling_sis_hits_the_request_deadline(headers, public_only, monkeypatch):
    if public_only:  # the public-only connections, with loopback counted as public
        monkeypatch.setattr("sisapp.oneroster.public_only.refusal_reason", lambda ip: None)
        monkeypatch.setattr("sisapp.oneroster.transport.check_url", lambda *a, **k: None)
    sis = TricklingSIS(headers=headers)
    settings = ConnectionSettings(
        endpoint_url=f"http://127.0.0.1:{sis.port}/ims/oneroster/v1p1",
        client_id="c",
        client_secret="secret-xyz",
        allow_private=not public_only,
        read_timeout=5,
        request_deadline=1,
    )
    started = time.monotonic()
    try:
        with OneRosterClient(settings) as client, pytest.raises(OneRosterError) as info:
            list(client.users())
    finally:
        sis.close()
    assert info.value.code is ErrorCode.REQUEST_DEADLINE and info.value.code.value == "OR113"
    assert "longer than 1 s" in str(info.value)
    assert time.monotonic() - started < 4
    assert sis.connections == 1  # neither retried nor given a second pass


@pytest.mark.parametrize(
    "answer",
    [
        {"headers": {"WWW-Authenticate": 'Bearer realm="sis"'}, "text": "Unauthorized"},
        {"json": {"error": "invalid_token", "error_description": "no bearer token"}},
    ],
)
def test_an_oauth2_server_without_token_url_says_so(make_client, requests_mock, answer):
    requests_mock.get(USERS, status_code=401, **answer)
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is ErrorCode.OAUTH2_REQUIRED and info.value.code.value == "OR125"
    assert "OAuth 2.0" in str(info.value) and "Token URL" in str(info.value)
    assert requests_mock.call_count == 1  # no HMAC-SHA1 attempt


def test_an_oauth1_refusal_still_names_the_credentials(make_client, requests_mock):
    requests_mock.get(
        USERS, status_code=401, headers={"WWW-Authenticate": 'OAuth realm="sis"'}, text="no"
    )
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is ErrorCode.BAD_CREDENTIALS


def test_check_retry_cap_applies_to_the_token_request(make_client, requests_mock):
    token = requests_mock.post(TOKEN_URL, status_code=503)
    result = make_client(endpoint_url=V11, token_url=TOKEN_URL, max_retries=6).check()
    assert result.ok is False and result.error_code == ErrorCode.TOKEN_URL_FAILED.value
    assert token.call_count == 3  # as for data requests: 1 + 2 retries


@pytest.mark.parametrize(
    "url",
    [
        ROOT.replace("sis.example", "sis.exa mple") + "/ims/oneroster/v1p1",
        ROOT + ":99999/ims/oneroster/v1p1",
        "https://[::1/ims/oneroster/v1p1",
    ],
)
def test_a_malformed_url_fails_at_once_as_invalid_settings(make_client, requests_mock, url):
    result = make_client(endpoint_url=url, max_retries=6).check()
    assert result.error_code == ErrorCode.INVALID_SETTINGS.value, result
    assert requests_mock.call_count == 0
