"""Admins polling the live status fragment, for bench/web.py: sign-in and the pollers."""

from __future__ import annotations

import http.client
import itertools
import re
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
    """N threads polling one status URL the way htmx's load polling does.

    Each keeps one keep-alive connection (http.client: the pollers stand in for
    browsers on other machines, so their own CPU cost on this one is kept small). Like a
    browser, a request whose reused connection was closed by the server before it
    answered is sent again once on a new connection; those are counted as reconnects.
    """

    url: str
    cookies: list[str]
    count: int
    interval: float
    seconds: float
    max_requests: int
    until_done: bool = True  # False: poll until stopped, any 200 answer is fine
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    reconnects: int = 0
    failures: int = 0  # requests that got no answer at all
    budget_spent: bool = False
    first_error: str = ""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._budget = itertools.count(1)
        self._threads = [
            threading.Thread(target=self._poll, args=(n,), name=f"poller-{n}", daemon=True)
            for n in range(self.count)
        ]

    def start(self) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds
        for thread in self._threads:
            thread.start()

    def _poll(self, n: int) -> None:
        target = urlsplit(self.url)
        headers = {
            "Cookie": self.cookies[n % len(self.cookies)],
            "HX-Request": "true",
            # Flask-Login's "strong" session protection binds the session to the agent.
            "User-Agent": requests.utils.default_user_agent(),
        }
        conn = None
        # Spread the first requests over one interval, as pages opened at different times.
        self._stop.wait(self.interval * n / self.count)
        try:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                if next(self._budget) > self.max_requests:
                    self.budget_spent = True
                    return
                started = time.perf_counter()
                try:
                    status, body, conn = self._get(conn, target, headers)
                except (OSError, http.client.HTTPException) as exc:
                    with self._lock:
                        self.errors[type(exc).__name__] += 1
                        self.failures += 1
                        self.first_error = self.first_error or repr(exc)[:200]
                    conn = None
                    self._stop.wait(self.interval)
                    continue
                self.latencies.append(time.perf_counter() - started)
                if status != 200 or (self.until_done and FRAGMENT not in body):
                    with self._lock:
                        self.errors[f"HTTP {status}"] += 1
                elif self.until_done and b"hx-trigger" not in body:
                    return  # the run ended: htmx stops polling
                self._stop.wait(self.interval)
        finally:
            if conn is not None:
                conn.close()

    def _get(self, conn, target, headers):
        """One GET; returns (status, body, the connection to reuse or None)."""
        for _attempt in range(2):
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                conn.request("GET", target.path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                conn = None
                if fresh:
                    raise
                with self._lock:
                    self.reconnects += 1
                continue
            if response.will_close:
                conn.close()
                conn = None
            return response.status, body, conn
        raise ConnectionError("the server closed two connections in a row")

    def wait(self, timeout: float) -> None:
        """Let the pollers see the finished fragment, then stop those still going."""
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        self._stop.set()
        for thread in self._threads:
            thread.join(35)
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
