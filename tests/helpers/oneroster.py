"""The OneRoster client tests' fake SIS: its URLs and secret, a resolver that answers a
public address, a fake clock, and an in-memory collection server for requests-mock."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SECRET = "s3cr3t-Sh0uld-Never-Leak"
ROOT = "https://sis.example.org"
V11 = ROOT + "/ims/oneroster/v1p1"
V12 = ROOT + "/ims/oneroster/rostering/v1p2"
TOKEN_URL = ROOT + "/oauth/access_token"
PUBLIC_IP = "93.184.216.34"


def public_resolver(host, port, *args, **kwargs):
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port or 443))]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def query(request) -> dict[str, str]:
    """Exact (case-preserving) query parameters of a mocked request."""
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


class Collection:
    """Serves ``rows`` with limit/offset like a OneRoster server, with configurable quirks."""

    def __init__(
        self,
        rows,
        *,
        key="users",
        total=True,
        links=False,
        cap=None,
        ignore_offset=False,
        total_value=None,
        bare=False,
    ):
        self.rows = rows
        self.key = key
        self.total = total
        self.links = links
        self.cap = cap
        self.ignore_offset = ignore_offset
        self.total_value = total_value
        self.bare = bare
        self.requests: list[dict] = []

    def __call__(self, request, context):
        params = query(request)
        self.requests.append(params)
        limit = int(params.get("limit", 100))
        if self.cap:
            limit = min(limit, self.cap)
        offset = 0 if self.ignore_offset else int(params.get("offset", 0))
        page = self.rows[offset : offset + limit]
        if self.total:
            context.headers["X-Total-Count"] = str(
                len(self.rows) if self.total_value is None else self.total_value
            )
        if self.links:
            base = request.url.split("?", 1)[0]
            links = [f'<{base}?limit={limit}&offset=0>; rel="first"']
            if offset + limit < len(self.rows):
                links.append(f'<{base}?limit={limit}&offset={offset + limit}>; rel="next"')
            context.headers["Link"] = ", ".join(links)
        return page if self.bare else {self.key: page}


def users(n: int, prefix: str = "u") -> list[dict]:
    return [
        {
            "sourcedId": f"{prefix}{i:04d}",
            "status": "active",
            "role": "student",
            "username": f"{prefix}{i}",
        }
        for i in range(n)
    ]


class LocalSIS(ThreadingHTTPServer):
    """A real threaded HTTP server on 127.0.0.1, serving from a thread of its own, that
    counts the requests it serves at once (``now``, ``max``); requests-mock serialises
    requests, so it cannot show overlap."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.now = self.max = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ims/oneroster/v1p1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
