"""The OneRoster client the sync and the admin pages use.

It turns connection settings into streams of typed records: it finds the OneRoster base
and version, authenticates, pages, retries and maps every failure to a coded
``OneRosterError``. It holds no collections (a district has about a million enrollments):
each method is a generator reading page by page.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from urllib.parse import urljoin

from . import records
from .auth import OAuth1Auth, OAuth2Auth
from .check import ConnectionCheck, check_connection
from .errors import ErrorCode, OneRosterError
from .limiter import InFlightLimit
from .paging import Page, Pager, all_of, collection_keys, extract_rows, row_ids, since_filter
from .schools import SchoolReads
from .settings import ConnectionSettings
from .transport import Transport
from .urls import base_for, path_of, same_origin, split_endpoint

# Failures worth one more pass over a page after a pause: the SIS may be back by then.
_TRANSIENT = frozenset(
    {ErrorCode.SERVER_ERROR, ErrorCode.RATE_LIMITED, ErrorCode.TIMEOUT, ErrorCode.UNREACHABLE}
)


class OneRosterClient(SchoolReads):
    """Reads one SIS. Methods are generators; iterate each from one thread at a time.

    Several may run at once (``school_rosters`` does): requests in flight across all of
    them are capped at the settings' concurrency, and the counters are shared.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        log: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._log = log or (lambda message: None)
        self._warn = warn or self._log
        self._should_stop = should_stop or (lambda: False)
        self._sleep: Callable[[float], None] = time.sleep  # replaced by tests
        self._clock: Callable[[], float] = time.monotonic  # replaced by tests
        self._resolve: Callable[..., list] = socket.getaddrinfo  # replaced by tests
        self.pages_read = 0
        self.records_read = 0
        # By collection ("users", "classes", ...): records read, and what the SIS's
        # X-Total-Count said a whole collection holds (for progress; not trusted for paging).
        self.read_counts: dict[str, int] = {}
        self.expected_counts: dict[str, int] = {}
        self.retries = 0
        self._counter_lock = threading.Lock()
        # Requests in flight to this SIS: at most the cap, fewer while it is overloaded.
        self.in_flight = InFlightLimit(
            max(1, int(settings.concurrency)), latency_margin=settings.latency_margin
        )
        self._ready = False
        self._version: str | None = None
        self._base: str | None = None
        self._nested_missing: set[str] = set()
        self._full_limits: set[int] = set()  # page sizes the SIS was seen to fill
        self._bad_totals: set[str] = set()  # collections whose wrong total was logged
        self._second_pass = bool(settings.failed_page_passes)
        self.transport = Transport(
            settings,
            log=lambda message: self._log(message),
            sleep=lambda seconds: self._sleep(seconds),
            on_retry=self._count_retry,
            resolve=lambda *args, **kwargs: self._resolve(*args, **kwargs),
            on_throttle=self.in_flight.throttled,
        )
        self._auth: OAuth1Auth | OAuth2Auth | None = None

    # --- setup ------------------------------------------------------------------------

    def _count_retry(self) -> None:
        with self._counter_lock:
            self.retries += 1

    def close(self) -> None:
        self.transport.close()

    def limit_retries(self, retries: int) -> None:
        """Retry every request (token requests too) at most ``retries`` times, with no
        second pass: for the connection test, where the admin is waiting."""
        self.transport.retry_cap = retries
        self._second_pass = False

    def __enter__(self) -> OneRosterClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def auth(self) -> OAuth1Auth | OAuth2Auth:
        if self._auth is None:
            self.settings.validate()
            if self.settings.token_url_or_none:
                self.transport.check_url(self.settings.token_url_or_none, "token URL")
                self._auth = OAuth2Auth(self.settings, self.transport, lambda: self._clock())
            else:
                self._auth = OAuth1Auth(self.settings, self.transport)
        return self._auth

    @property
    def auth_mode(self) -> str:
        """The auth in use: oauth2, oauth1-hmac-sha256 or oauth1-hmac-sha1 (after a fallback)."""
        return self.auth.mode

    @property
    def known_version(self) -> str | None:
        """The version found so far, without discovering it."""
        return self._version

    @property
    def known_auth_mode(self) -> str | None:
        """The auth mode chosen so far, without choosing it."""
        return self._auth.mode if self._auth is not None else None

    @property
    def version(self) -> str:
        """OneRoster version v1p1 or v1p2, discovered on first use unless URL or settings say."""
        self._ensure_ready()
        return self._version

    @property
    def base_url(self) -> str:
        self._ensure_ready()
        return self._base

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        self.settings.validate()
        root, version, base = split_endpoint(self.settings.endpoint_url)
        self.transport.check_url(root, "endpoint URL")
        auth = self.auth
        if base is None and self.settings.version:
            version, base = self.settings.version, base_for(root, self.settings.version)
        if base is None:
            version, base = self._discover(root)
        self._version, self._base = version, base
        auth.prefer_version(version)
        self._ready = True

    def _discover(self, root: str) -> tuple[str, str]:
        """Probe v1.2's rostering base, then v1.1's; auth failures are not "not OneRoster"."""
        tried = []
        for version in ("v1p2", "v1p1"):
            base = base_for(root, version)
            self.auth.prefer_version(version)
            try:
                data, _ = self.transport.get_json(base + "/orgs?limit=1", self.auth)
                extract_rows(data, ("orgs",), path_of(base))
            except OneRosterError as exc:
                if exc.code in (
                    ErrorCode.ENDPOINT_NOT_FOUND,
                    ErrorCode.NOT_ONEROSTER,
                    ErrorCode.MALFORMED_PAGE,
                    ErrorCode.REQUEST_REJECTED,
                ):
                    tried.append(path_of(base))
                    continue
                raise
            self._log(f"found OneRoster {version} at {path_of(base)}")
            return version, base
        raise OneRosterError(
            ErrorCode.NOT_ONEROSTER,
            f"No OneRoster API found under the endpoint URL (tried {' and '.join(tried)}).",
            status=404,
            path=path_of(root),
        )

    # --- reading ----------------------------------------------------------------------

    def _fetch(
        self,
        url: str,
        abort: Callable[[], bool] | None,
        parse: Callable[[dict, str], object] | None = None,
        path: str | None = None,
    ) -> Page:
        """One page; its records parsed by ``parse`` in this (the fetching) thread.

        Parsing here keeps only the small records of pages waiting in the pager, not
        the decoded JSON, which is several times larger.
        """
        if not same_origin(url, self._base):
            raise OneRosterError(
                ErrorCode.URL_NOT_ALLOWED,
                "The SIS's next-page link points to another host.",
                path=path_of(url),
            )
        try:
            data, response = self._get(url, abort)
        except OneRosterError as exc:
            if exc.code not in _TRANSIENT or not self._second_pass:
                raise
            pause = self._failed_page_pause()
            self._log(
                f"{exc.code.value} at {path_of(url)} after all retries; "
                f"trying that page once more in {pause:.1f}s"
            )
            self._pause(pause, abort)
            data, response = self._get(url, abort)
        rows = extract_rows(data, collection_keys(url.split("?", 1)[0]), path_of(url))
        ids = row_ids(rows)
        if parse is not None:
            rows = [parse(raw, path) for raw in rows]
        total_header = response.headers.get("X-Total-Count")
        try:
            total = int(total_header) if total_header is not None else None
        except ValueError:
            total = None
        links = response.links
        next_url = links.get("next", {}).get("url")
        if next_url:
            next_url = urljoin(response.url or url, next_url)
        return Page(
            rows=rows, ids=ids, total=total, next_url=next_url, has_links=bool(links), url=url
        )

    def _get(self, url: str, abort: Callable[[], bool] | None) -> tuple[object, object]:
        with self.in_flight.slot(abort):
            return self.transport.get_json(url, self.auth, abort=abort)

    def _failed_page_pause(self) -> float:
        """The setting, or the wait the retry after the last one would have had."""
        if self.settings.failed_page_pause is not None:
            return self.settings.failed_page_pause
        backoff = self.settings.backoff_base * 2 ** (self.settings.max_retries + 1)
        return min(self.settings.backoff_max, backoff)

    def _pause(self, seconds: float, abort: Callable[[], bool] | None) -> None:
        """Sleep, in steps short enough to answer a cancel."""
        stop = abort or self._should_stop
        while seconds > 0:
            if stop():
                raise OneRosterError(ErrorCode.CANCELLED, "The read was cancelled.")
            step = min(seconds, 1.0)
            self._sleep(step)
            seconds -= step

    def _bad_total(self, url: str, total: int) -> None:
        """Log a wrong X-Total-Count once per collection (per-school reads included)."""
        name = collection_keys(url.split("?", 1)[0])[0]
        with self._counter_lock:
            if name in self._bad_totals:
                return
            self._bad_totals.add(name)
        self._warn(
            f"the SIS sent a wrong total ({total}) for {name} at {path_of(url)}; "
            "reading its pages until an empty one instead"
        )

    def _records(self, path: str, params: dict, parse: Callable[[dict, str], object]) -> Iterator:
        self._ensure_ready()
        base = self._base + path
        name = path.rsplit("/", 1)[-1]
        whole = path.count("/") == 1  # a whole collection, not one school's part of it

        def fetch(url: str, abort) -> Page:
            page = self._fetch(url, abort, parse=parse, path=path)
            if whole and page.total is not None and page.total > 0:
                with self._counter_lock:
                    self.expected_counts[name] = page.total
            return page

        pager = Pager(
            fetch,
            page_size=self.settings.page_size,
            concurrency=self.settings.concurrency,
            should_stop=self._should_stop,
            log=self._log,
            on_bad_total=self._bad_total,
            full_limits=self._full_limits,
        )
        for rows in pager.pages(base, params):
            if not rows:
                continue  # the empty page that ends a read is not counted as a page
            with self._counter_lock:
                self.pages_read += 1
                self.records_read += len(rows)
                self.read_counts[name] = self.read_counts.get(name, 0) + len(rows)
            yield from rows

    def collection_counts(self) -> dict[str, dict[str, int]]:
        """Records read so far by collection and what the SIS said to expect (copies,
        safe to take from another thread while the read goes on)."""
        with self._counter_lock:
            return {"read": dict(self.read_counts), "expected": dict(self.expected_counts)}

    def _collection(self, name: str, parse, since: datetime | None, extra: str | None = None):
        return self._records(f"/{name}", {"filter": all_of(extra, since_filter(since))}, parse)

    def academic_sessions(self, since: datetime | None = None) -> Iterator[records.AcademicSession]:
        return self._collection("academicSessions", records.parse_academic_session, since)

    # --- connection test --------------------------------------------------------------

    def check(self) -> ConnectionCheck:
        """Authenticate, read the schools, report version/auth/count; never raises."""
        return check_connection(self)
