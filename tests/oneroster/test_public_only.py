"""DNS rebinding: the host's address is checked again on the connected socket.

A real listener on 127.0.0.1 stands in for the internal service; the URL check is told
(by a fake resolver) that the host is public, as a rebinding DNS server would answer it,
while the connection itself reaches loopback.
"""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sisapp.oneroster import ConnectionSettings, ErrorCode, OneRosterError, public_only
from sisapp.oneroster.transport import Transport
from tests.helpers.oneroster import SECRET, public_resolver


class Listener:
    """Accepts connections and records every byte a client sends (it never answers)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(5)
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.accepted += 1
        conn.settimeout(1)
        try:
            while chunk := conn.recv(4096):
                self.received += chunk
        except OSError:
            pass
        conn.close()

    def close(self) -> None:
        self._thread.join(6)
        self.sock.close()


def _transport(*, allow_private: bool) -> Transport:
    settings = ConnectionSettings(
        endpoint_url="https://sis.example.org/ims/oneroster/v1p1",
        client_id="client",
        client_secret=SECRET,
        allow_private=allow_private,
        max_retries=0,
        connect_timeout=3,
        read_timeout=3,
    )
    return Transport(
        settings, log=lambda _m: None, sleep=lambda _s: None, on_retry=lambda: None,
        resolve=public_resolver,
    )  # fmt: skip


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_host_that_rebinds_to_loopback_is_refused_before_anything_is_sent(scheme):
    listener = Listener()
    transport = _transport(allow_private=False)
    # `localhost` passes the check (the fake resolver answers a public address), then
    # connects to 127.0.0.1. Plain http is refused by the check itself unless private URLs
    # are allowed, so for http the check is passed by hand, as a cached check would be.
    url = f"{scheme}://localhost:{listener.port}/ims/oneroster/v1p1/orgs"
    transport._checked.add((scheme, f"localhost:{listener.port}"))
    try:
        with pytest.raises(OneRosterError) as caught:
            transport.request(
                "GET", url, prepare=lambda: ({"Authorization": f"Bearer {SECRET}"}, None)
            )
    finally:
        transport.close()
        listener.close()
    assert caught.value.code == ErrorCode.URL_NOT_ALLOWED
    assert "loopback address (127.0.0.1)" in str(caught.value)
    assert listener.accepted == 1 and listener.received == b""  # no TLS hello, no secret
    assert SECRET not in str(caught.value)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b'{"orgs": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hello_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _get_orgs(transport, server_url: str):
    """One GET of the server's orgs through `transport`, which is closed afterwards."""
    try:
        response, _url = transport.request(
            "GET", f"{server_url}/ims/oneroster/v1p1/orgs", prepare=lambda: ({}, None)
        )
    finally:
        transport.close()
    return response


def test_allowed_private_urls_connect_to_loopback(hello_server):
    transport = _transport(allow_private=True)
    response = _get_orgs(transport, hello_server)
    assert response.status_code == 200 and response.json() == {"orgs": []}


def test_a_public_peer_is_let_through(hello_server, monkeypatch):
    """The checking connection still sends and reads normally when the peer is allowed
    (loopback counts as public here, the only way to reach a real server offline)."""
    monkeypatch.setattr(public_only, "refusal_reason", lambda _address: None)
    transport = _transport(allow_private=False)
    transport._checked.add(("http", hello_server.removeprefix("http://")))
    response = _get_orgs(transport, hello_server)
    assert response.status_code == 200 and response.json() == {"orgs": []}
