"""Admins polling the live status fragment, for bench/web.py: sign-in and the pollers."""

from __future__ import annotations

import contextlib
import heapq
import re
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from bench._common import percentile

PASSWORD = "bench-admin-password"
LOGIN_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
FRAGMENT = b'data-testid="run-status"'


# --- -------------------------------------------------------------------------


def sign_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/auth/login", timeout=30)
    token = LOGIN_CSRF.search(page.text).group(1)
    answer = session.post(
        f"{base}/auth/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in of {email} answered {answer.status_code}")
    return session


@dataclass
class Pollers:
    """N admins polling one status URL the way htmx's load polling does.

    The pollers stand in for browsers on other machines, so their own CPU on this one is
    kept small: one thread drives every poller's keep-alive connection through a
    selector (200 threads of http.client cost about five times as much CPU per request,
    and that CPU came out of the sync being measured). Like a browser, a request whose
    reused connection the server closed before answering is sent again once on a new
    connection; those are counted as reconnects.
    """

    url: str
    cookies: list[str]
    count: int
    interval: float
    seconds: float
    max_requests: int
    until_done: bool = True  # False: poll until stopped, any 200 answer is fine
    timeout: float = 30.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    reconnects: int = 0
    failures: int = 0  # requests that got no answer at all
    budget_spent: bool = False
    first_error: str = ""

    def __post_init__(self) -> None:
        target = urlsplit(self.url)
        self._address = (target.hostname, target.port or 80)
        path = target.path + (f"?{target.query}" if target.query else "")
        self._requests = [
            (
                f"GET {path} HTTP/1.1\r\nHost: {target.netloc}\r\nCookie: {cookie}\r\n"
                "HX-Request: true\r\nAccept: */*\r\n"
                # Flask-Login's "strong" session protection binds the session to the agent.
                f"User-Agent: {requests.utils.default_user_agent()}\r\n\r\n"
            ).encode()
            for cookie in self.cookies
        ]
        self._stop = threading.Event()
        self._next_expiry = 0.0
        self._thread = threading.Thread(target=self._loop, name="pollers", daemon=True)

    def start(self) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds
        self._thread.start()

    # --- the loop --------------------------------------------------------------------------

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        # Spread the first requests over one interval, as pages opened at different times.
        due = [(self.started + self.interval * n / self.count, n) for n in range(self.count)]
        heapq.heapify(due)
        polls = [_Poll(self._requests[n % len(self._requests)]) for n in range(self.count)]
        sent = 0
        try:
            while not self._stop.is_set() and (due or selector.get_map()):
                now = time.monotonic()
                if now >= self.deadline:
                    return
                while due and due[0][0] <= now:
                    _when, n = heapq.heappop(due)
                    sent += 1
                    if sent > self.max_requests:
                        self.budget_spent = True
                        return
                    retry = self._send(selector, polls[n], n, fresh=False)
                    if retry is not None:
                        heapq.heappush(due, (retry, n))
                wait = min(due[0][0] - now, 0.05) if due else 0.05
                for key, _events in selector.select(max(0.0, wait)):
                    n = key.data
                    again = self._receive(selector, polls[n], n)
                    if again is not None:
                        heapq.heappush(due, (again, n))
                self._expire(selector, polls, due)
        finally:
            for poll in polls:
                poll.close(selector)
            selector.close()

    def _send(self, selector, poll: _Poll, n: int, *, fresh: bool) -> float | None:
        """Send the poll; when it could not be sent, the time to try again."""
        if poll.sock is None:
            try:
                poll.connect(self._address, self.timeout)
            except OSError as exc:
                self._failed(poll, exc, selector)
                return time.monotonic() + self.interval
            fresh = True
            selector.register(poll.sock, selectors.EVENT_READ, n)
        poll.begin(fresh)
        try:
            poll.sock.sendall(poll.request)
        except OSError as exc:
            return self._lost(selector, poll, n, exc)
        return None

    def _receive(self, selector, poll: _Poll, n: int) -> float | None:
        """Read what arrived; the time of this poller's next request once it is answered."""
        try:
            chunk = poll.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError as exc:
            return self._lost(selector, poll, n, exc)
        if poll.sent_at is None:  # closed while idle, as keep-alive ends: reconnect later
            poll.close(selector)
            return None
        if not chunk:
            return self._lost(selector, poll, n, ConnectionResetError("closed before answering"))
        poll.buffer += chunk
        answer = poll.answer()
        if answer is None:
            return None
        status, body, close = answer
        now = time.monotonic()
        self.latencies.append(now - poll.sent_at)
        poll.sent_at = None
        if close:
            poll.close(selector)
        if status != 200 or (self.until_done and FRAGMENT not in body):
            self.errors[f"HTTP {status}"] += 1
        elif self.until_done and b"hx-trigger" not in body:
            poll.close(selector)
            return None  # the run ended: htmx stops polling
        return now + self.interval

    def _lost(self, selector, poll: _Poll, n: int, exc: Exception) -> float | None:
        """The connection failed under a request: a browser sends it once more, afresh."""
        reused = not poll.fresh and poll.buffer == b""
        poll.close(selector)
        if reused:
            self.reconnects += 1
            return self._send(selector, poll, n, fresh=True)
        self._failed(poll, exc, selector)
        return time.monotonic() + self.interval

    def _failed(self, poll: _Poll, exc: Exception, selector) -> None:
        poll.close(selector)
        self.errors[type(exc).__name__] += 1
        self.failures += 1
        self.first_error = self.first_error or repr(exc)[:200]

    def _expire(self, selector, polls: list[_Poll], due: list) -> None:
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 1.0
        for n, poll in enumerate(polls):
            if poll.sent_at is not None and now - poll.sent_at > self.timeout:
                self._failed(poll, TimeoutError(f"no answer in {self.timeout:g} s"), selector)
                heapq.heappush(due, (now + self.interval, n))

    def wait(self, timeout: float) -> None:
        """Let the pollers see the finished fragment, then stop those still going."""
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join(35)
        self.ended = time.monotonic()

    def summary(self) -> str:
        ms = [v * 1000 for v in self.latencies]
        count = len(ms) + self.failures
        span = max(1e-9, self.ended - self.started)
        errors = sum(self.errors.values())
        detail = f" ({dict(self.errors)}; first: {self.first_error})" if errors else ""
        return (
            f"{count:,} requests, {count / span:.0f}/s; latency p50 {percentile(ms, 50):.0f} ms, "
            f"p99 {percentile(ms, 99):.0f} ms, max {max(ms, default=0):.0f} ms; "
            f"reconnects {self.reconnects}; errors {errors}{detail}"
        )


class _Poll:
    """One poller's connection and the answer it is reading."""

    __slots__ = ("request", "sock", "buffer", "sent_at", "fresh")

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.sent_at: float | None = None
        self.fresh = True

    def connect(self, address, timeout: float) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)

    def begin(self, fresh: bool) -> None:
        self.buffer = b""
        self.fresh = fresh
        self.sent_at = time.monotonic()

    def close(self, selector) -> None:
        if self.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(self.sock)
            self.sock.close()
            self.sock = None
        self.sent_at = None

    def answer(self) -> tuple[int, bytes, bool] | None:
        """(status, body, server closes) once the whole answer is in the buffer."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.buffer[head_end + 4 :]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _unchunk(body)
            if body is None:
                return None
        else:
            length = int(headers.get("content-length", "0"))
            if len(body) < length:
                return None
            body = body[:length]
        return status, body, headers.get("connection", "").lower() == "close"


def _unchunk(data: bytes) -> bytes | None:
    """The body of a complete chunked answer, None while chunks are still missing."""
    body, at = [], 0
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(data[at:line_end].split(b";", 1)[0], 16)
        start = line_end + 2
        if size == 0:
            return b"".join(body) if data.find(b"\r\n", start) >= 0 else None
        if len(data) < start + size + 2:
            return None
        body.append(data[start : start + size])
        at = start + size + 2
