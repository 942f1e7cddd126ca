"""HTTP with the habits a long sync needs: timeouts, retries, safe redirects, coded errors.

A four-hour sync meets every transient failure a SIS can produce, so connection errors,
timeouts, 429 and 5xx are retried with exponential backoff and full jitter (honouring
``Retry-After``) before they become coded errors. Every attempt is re-authorised through
a ``prepare`` callback so an OAuth 1.0a signature gets a fresh nonce and an OAuth 2.0
request the current token.

Redirects are followed by hand, only to the same host and after the URL safety check,
so a redirect can neither carry credentials to another host nor reach the internal
network; every connection is checked again on its socket (``public_only``), so neither
can a DNS answer that changes after the check.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3

from .body import deadline_error, decode_json, read_body, starts_like_html
from .deadline import Watchdog, WatchedAdapter
from .errors import ErrorCode, OneRosterError, describe_error_body, redact
from .public_only import AddressRefused, PublicOnlyAdapter
from .settings import ConnectionSettings
from .urls import check_url, path_of, resolve_link, same_origin

USER_AGENT = "sisapp-oneroster/1.0"
Prepare = Callable[[], tuple[dict, object]]
_MAX_REDIRECTS = 5


class Transport:
    """Sends requests for one client; safe to use from several threads at once."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        log: Callable[[str], None],
        sleep: Callable[[float], None],
        on_retry: Callable[[], None],
        resolve: Callable[..., list],
        on_throttle: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_throttle = on_throttle or (lambda: None)
        self.log = log
        self.sleep = sleep
        self.on_retry = on_retry
        self.resolve = resolve
        self.secrets: list[str] = [settings.client_secret]
        self._sessions: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
        self._all_sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._checked: set[tuple[str, str]] = set()
        self.retry_cap: int | None = None  # set by the connection test: every request retries less

    # --- plumbing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled session (connection pools)."""
        with self._lock:
            sessions, self._all_sessions = self._all_sessions, []
        for session in sessions:
            session.close()

    def _session(self) -> requests.Session:
        try:
            return self._sessions.get_nowait()
        except queue.Empty:
            session = requests.Session()
            session.trust_env = False  # no .netrc credentials or proxy surprises
            adapter = WatchedAdapter if self.settings.allow_private else PublicOnlyAdapter
            for prefix in ("https://", "http://"):
                session.mount(prefix, adapter())
            with self._lock:
                self._all_sessions.append(session)
            return session

    def check_url(self, url: str, label: str) -> None:
        """URL safety check, cached per host so DNS is not asked for every page."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc.lower())
        if key in self._checked:
            return
        check_url(url, allow_private=self.settings.allow_private, label=label, resolve=self.resolve)
        with self._lock:
            self._checked.add(key)

    def add_secret(self, value: str) -> None:
        """Remember a value (an access token) that must be redacted from messages."""
        with self._lock:
            if value not in self.secrets:
                self.secrets = [self.settings.client_secret, *self.secrets[1:][-20:], value]

    def redact(self, value: str | None) -> str | None:
        return redact(value, self.secrets)

    def _retry_delay(self, attempt: int, response: requests.Response | None) -> float:
        """Full-jitter exponential backoff, or the server's Retry-After (capped)."""
        cap = self.settings.retry_after_max
        cap = self.settings.backoff_max if cap is None else cap
        header = response.headers.get("Retry-After") if response is not None else None
        if header:
            header = header.strip()
            try:
                return max(0.0, min(float(header), cap))
            except ValueError:
                try:
                    when = parsedate_to_datetime(header)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None:
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=UTC)
                    return max(0.0, min((when - datetime.now(UTC)).total_seconds(), cap))
        backoff = self.settings.backoff_base * (2**attempt)
        return random.uniform(0, min(self.settings.backoff_max, backoff))

    # --- requests with retries ----------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        prepare: Prepare,
        data: dict | None = None,
        label: str = "endpoint URL",
        max_retries: int | None = None,
        abort: Callable[[], bool] | None = None,
    ) -> tuple[requests.Response, str]:
        """Send until an answer that is not worth retrying; return it and the final URL.

        Raises UNREACHABLE, TLS_ERROR, TIMEOUT, SERVER_ERROR or RATE_LIMITED once retries
        (count or time budget) are used up. Other statuses are returned for the caller.
        """
        retries = self.settings.max_retries if max_retries is None else max_retries
        if self.retry_cap is not None:
            retries = min(retries, self.retry_cap)
        attempt = 0
        waited = 0.0
        redirects = 0
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        while True:
            if abort is not None and abort():
                raise OneRosterError(
                    ErrorCode.CANCELLED, "The read was cancelled.", path=path_of(url)
                )
            self.check_url(url, label)
            headers, auth = prepare()
            headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **headers}
            session = self._session()
            response = None
            try:
                response = self._send(
                    session, method, url, headers=headers, data=data, auth=auth, timeout=timeout
                )
            except AddressRefused as exc:
                raise OneRosterError(
                    ErrorCode.URL_NOT_ALLOWED,
                    f"The {label} host {exc.host} led to a {exc.reason} address "
                    f"({exc.address}) when connecting, although its DNS answered a public one "
                    "before; only public addresses are allowed. Check the host's DNS records.",
                    path=path_of(url),
                ) from None
            except requests.exceptions.SSLError as exc:
                raise OneRosterError(
                    ErrorCode.TLS_ERROR,
                    "The TLS connection to the SIS failed (certificate problem?).",
                    path=path_of(url),
                    detail=self.redact(str(exc)),
                ) from None
            except (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                urllib3.exceptions.LocationValueError,
            ) as exc:
                raise OneRosterError(
                    ErrorCode.INVALID_SETTINGS,
                    f"The {label} is not a valid address; check it in the settings.",
                    path=path_of(url),
                    detail=self.redact(str(exc)),
                ) from None
            except requests.exceptions.Timeout as exc:
                failure = (ErrorCode.TIMEOUT, "The SIS did not answer in time.", str(exc))
            except requests.exceptions.ConnectionError as exc:
                failure = (ErrorCode.UNREACHABLE, "Could not connect to the SIS.", str(exc))
            except requests.exceptions.RequestException as exc:  # broken body, decoding...
                failure = (ErrorCode.UNREACHABLE, "The SIS dropped the connection.", str(exc))
            else:
                status = response.status_code
                if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    url = self._follow_redirect(url, response, redirects, label)
                    redirects += 1
                    continue
                if status == 429:
                    self.on_throttle()
                    failure = (
                        ErrorCode.RATE_LIMITED,
                        "The SIS kept answering 'too many requests'.",
                        None,
                    )
                elif status >= 500 and status not in (501, 505):
                    failure = (
                        ErrorCode.SERVER_ERROR,
                        "The SIS kept answering with server errors.",
                        None,
                    )
                else:
                    return response, url
            finally:
                self._sessions.put(session)
            code, message, detail = failure
            status = response.status_code if response is not None else None
            if response is not None:
                detail = describe_error_body(response.text)
            if attempt >= retries:
                raise self._give_up(code, message, status, url, detail, attempt)
            delay = self._retry_delay(attempt, response)
            if waited + delay > self.settings.retry_budget_seconds:
                raise self._give_up(code, message, status, url, detail, attempt)
            attempt += 1
            self.on_retry()
            reason = f"HTTP {status}" if status else code.name.lower()
            self.log(f"retry {attempt}/{retries} after {reason} at {path_of(url)} in {delay:.1f}s")
            self.sleep(delay)
            waited += delay

    def _send(self, session: requests.Session, method: str, url: str, **kwargs):
        """One request with its body read, all within the request deadline."""
        seconds = self.settings.request_deadline
        started = time.monotonic()
        with Watchdog(seconds) as watchdog:
            try:
                response = session.request(
                    method, url, allow_redirects=False, stream=True, **kwargs
                )
                read_body(response, started + seconds, seconds, url)
            except (requests.exceptions.RequestException, OSError):
                if watchdog.fired:
                    raise deadline_error(seconds, None, url) from None
                raise
        return response

    def _give_up(self, code, message, status, url, detail, attempts) -> OneRosterError:
        suffix = f" (after {attempts} retries)" if attempts else ""
        if detail:
            suffix += f": {self.redact(detail)}"
        return OneRosterError(
            code, message + suffix, status=status, path=path_of(url), detail=self.redact(detail)
        )

    def _follow_redirect(
        self, url: str, response: requests.Response, count: int, label: str
    ) -> str:
        target = resolve_link(url, response.headers["Location"])
        if count >= _MAX_REDIRECTS:
            raise OneRosterError(
                ErrorCode.NOT_ONEROSTER,
                "Too many redirects.",
                status=response.status_code,
                path=path_of(url),
            )
        if not same_origin(url, target):
            raise OneRosterError(
                ErrorCode.URL_NOT_ALLOWED,
                "The SIS redirected to another host; use that host's URL in the settings.",
                status=response.status_code,
                path=path_of(url),
            )
        self.check_url(target, label)
        return target

    # --- JSON reads with auth ---------------------------------------------------------

    def get_json(
        self,
        url: str,
        auth,
        *,
        max_retries: int | None = None,
        abort: Callable[[], bool] | None = None,
    ) -> tuple[object, requests.Response]:
        """GET a OneRoster JSON document, handling 401 through ``auth`` once.

        Raises ENDPOINT_NOT_FOUND on 404 (callers turn it into a fallback or
        NOT_ONEROSTER), FORBIDDEN_SCOPE on 403, REQUEST_REJECTED on other 4xx,
        NOT_ONEROSTER on HTML and MALFORMED_PAGE on bad JSON.
        """
        state: dict = {}

        def prepare():
            headers, request_auth, state["auth"] = auth.prepare()
            return headers, request_auth

        for auth_attempt in range(2):
            response, final_url = self.request(
                "GET", url, prepare=prepare, max_retries=max_retries, abort=abort
            )
            if (
                response.status_code == 401
                and auth_attempt == 0
                and auth.retry_unauthorized(response, state["auth"])
            ):
                continue
            break
        path = path_of(final_url)
        status = response.status_code
        if not 200 <= status < 300:
            raise self._status_error(response, status, path, auth, state.get("auth"))
        content_type = response.headers.get("Content-Type", "").lower()
        if "html" in content_type or starts_like_html(response.content):
            raise OneRosterError(
                ErrorCode.NOT_ONEROSTER,
                "The SIS answered with a web page where OneRoster JSON was expected.",
                status=status,
                path=path,
            )
        return decode_json(response, path), response

    def _status_error(self, response, status: int, path: str, auth, auth_state) -> OneRosterError:
        """The coded error for a non-2xx answer, quoting what the server said (redacted)."""
        if status == 401:
            return auth.unauthorized_error(response, auth_state, path)
        said = self.redact(describe_error_body(response.text))
        quoted = f" The SIS said: {said}" if said else ""
        if status == 403:
            code = ErrorCode.FORBIDDEN_SCOPE
            message = (
                "The SIS refused access to this data (check the application's scopes and "
                "school access)."
            )
        elif status == 404:
            code, message = (
                ErrorCode.ENDPOINT_NOT_FOUND,
                "The SIS has no such OneRoster collection.",
            )
        else:
            code, message = ErrorCode.REQUEST_REJECTED, "The SIS rejected the request."
        return OneRosterError(code, message + quoted, status=status, path=path, detail=said)
