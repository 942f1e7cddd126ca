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
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import urljoin

from . import records
from .auth import OAuth1Auth, OAuth2Auth
from .check import ConnectionCheck, check_connection
from .errors import ErrorCode, OneRosterError
from .paging import Page, Pager, collection_keys, extract_rows, row_ids
from .readahead import ReadAhead
from .settings import ConnectionSettings
from .transport import Transport
from .urls import base_for, path_of, same_origin, split_endpoint

# Schools whose classes and enrollments are read ahead of the one the caller works on.
READ_AHEAD_SCHOOLS = 2

_NESTED_FALLBACK_FILTER = {
    "classes": "school.sourcedId",
    "enrollments": "school.sourcedId",
    "courses": "org.sourcedId",
}


def _since_filter(since: datetime | None) -> str | None:
    if since is None:
        return None
    moment = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    return f"dateLastModified>'{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def _and(*clauses: str | None) -> str | None:
    present = [clause for clause in clauses if clause]
    return " AND ".join(present) or None


class OneRosterClient:
    """Reads one SIS. Methods are generators; iterate each from one thread at a time.

    Several may run at once (``school_rosters`` does): requests in flight across all of
    them are capped at the settings' concurrency, and the counters are shared.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        log: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self._log = log or (lambda message: None)
        self._should_stop = should_stop or (lambda: False)
        self._sleep: Callable[[float], None] = time.sleep  # replaced by tests
        self._clock: Callable[[], float] = time.monotonic  # replaced by tests
        self._resolve: Callable[..., list] = socket.getaddrinfo  # replaced by tests
        self.pages_read = 0
        self.records_read = 0
        self.retries = 0
        self._counter_lock = threading.Lock()
        self._request_slots = threading.BoundedSemaphore(max(1, int(settings.concurrency)))
        self._ready = False
        self._version: str | None = None
        self._base: str | None = None
        self._nested_missing: set[str] = set()
        self.transport = Transport(
            settings,
            log=lambda message: self._log(message),
            sleep=lambda seconds: self._sleep(seconds),
            on_retry=self._count_retry,
            resolve=lambda *args, **kwargs: self._resolve(*args, **kwargs),
        )
        self._auth: OAuth1Auth | OAuth2Auth | None = None

    # --- setup ------------------------------------------------------------------------

    def _count_retry(self) -> None:
        with self._counter_lock:
            self.retries += 1

    def close(self) -> None:
        self.transport.close()

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
    def version(self) -> str:
        """OneRoster version v1p1 or v1p2, discovered on first use unless URL or settings say."""
        self._ensure_ready()
        return self._version

    @property
    def base_url(self) -> str:
        self._ensure_ready()
        return self._base

    def _ensure_ready(self, max_retries: int | None = None) -> None:
        if self._ready:
            return
        self.settings.validate()
        root, version, base = split_endpoint(self.settings.endpoint_url)
        self.transport.check_url(root, "endpoint URL")
        auth = self.auth
        if base is None and self.settings.version:
            version, base = self.settings.version, base_for(root, self.settings.version)
        if base is None:
            version, base = self._discover(root, max_retries)
        self._version, self._base = version, base
        auth.prefer_version(version)
        self._ready = True

    def _discover(self, root: str, max_retries: int | None) -> tuple[str, str]:
        """Probe v1.2's rostering base, then v1.1's; auth failures are not "not OneRoster"."""
        tried = []
        for version in ("v1p2", "v1p1"):
            base = base_for(root, version)
            self.auth.prefer_version(version)
            try:
                data, _ = self.transport.get_json(
                    base + "/orgs?limit=1", self.auth, max_retries=max_retries
                )
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
        max_retries: int | None = None,
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
        with self._request_slots:
            data, response = self.transport.get_json(
                url, self.auth, max_retries=max_retries, abort=abort
            )
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

    def _records(self, path: str, params: dict, parse: Callable[[dict, str], object]) -> Iterator:
        self._ensure_ready()
        base = self._base + path
        pager = Pager(
            lambda url, abort: self._fetch(url, abort, parse=parse, path=path),
            page_size=self.settings.page_size,
            concurrency=self.settings.concurrency,
            should_stop=self._should_stop,
            log=self._log,
        )
        for rows in pager.pages(base, params):
            with self._counter_lock:
                self.pages_read += 1
                self.records_read += len(rows)
            yield from rows

    def _collection(self, name: str, parse, since: datetime | None, extra: str | None = None):
        return self._records(f"/{name}", {"filter": _and(extra, _since_filter(since))}, parse)

    def _per_school(self, school_id: str, name: str, parse, since: datetime | None) -> Iterator:
        """Nested ``/schools/{id}/{name}``; on 404 the filtered top-level collection."""
        try:
            if name not in self._nested_missing:
                yielded = False
                try:
                    for record in self._records(
                        f"/schools/{school_id}/{name}", {"filter": _since_filter(since)}, parse
                    ):
                        yielded = True
                        yield record
                    return
                except OneRosterError as exc:
                    if exc.code is not ErrorCode.ENDPOINT_NOT_FOUND or yielded:
                        raise
                    self._nested_missing.add(name)
                    self._log(f"no nested /schools/{{id}}/{name}; filtering /{name} by school")
            yield from self._collection(
                name, parse, since, f"{_NESTED_FALLBACK_FILTER[name]}='{school_id}'"
            )
        except OneRosterError as exc:
            self._raise_for_school(exc, school_id)

    @staticmethod
    def _raise_for_school(exc: OneRosterError, school_id: str) -> None:
        """Wrap a failure as SCHOOL_READ_FAILED so the sync can go on with other schools."""
        if exc.code in (ErrorCode.CANCELLED, ErrorCode.SCHOOL_READ_FAILED):
            raise exc
        raise OneRosterError(
            ErrorCode.SCHOOL_READ_FAILED,
            f"Reading school {school_id} failed: {exc}",
            status=exc.status,
            path=exc.path,
            detail=exc.detail,
            cause_code=exc.code,
            school_id=school_id,
        ) from exc

    def schools(self) -> Iterator[records.Org]:
        return self._records("/schools", {}, records.parse_org)

    def academic_sessions(self, since: datetime | None = None) -> Iterator[records.AcademicSession]:
        return self._collection("academicSessions", records.parse_academic_session, since)

    def courses(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Course]:
        if school_id is None:
            return self._collection("courses", records.parse_course, since)
        return self._per_school(school_id, "courses", records.parse_course, since)

    def classes(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Class]:
        if school_id is None:
            return self._collection("classes", records.parse_class, since)
        return self._per_school(school_id, "classes", records.parse_class, since)

    def enrollments(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.Enrollment]:
        if school_id is None:
            return self._collection("enrollments", records.parse_enrollment, since)
        return self._per_school(school_id, "enrollments", records.parse_enrollment, since)

    def users(
        self, school_id: str | None = None, since: datetime | None = None
    ) -> Iterator[records.User]:
        """All users (every role, parents too) or one school's students and teachers."""
        if school_id is None:
            return self._collection("users", records.parse_user, since)
        return self._school_users(school_id, since)

    def _school_users(self, school_id: str, since: datetime | None) -> Iterator[records.User]:
        try:
            if "users" not in self._nested_missing:
                seen: set[str] = set()
                try:
                    for name in ("students", "teachers"):
                        for user in self._records(
                            f"/schools/{school_id}/{name}",
                            {"filter": _since_filter(since)},
                            records.parse_user,
                        ):
                            if user.sourced_id not in seen:
                                seen.add(user.sourced_id)
                                yield user
                    return
                except OneRosterError as exc:
                    if exc.code is not ErrorCode.ENDPOINT_NOT_FOUND or seen:
                        raise
                    self._nested_missing.add("users")
                    self._log("no nested /schools/{id}/students; filtering /users by org")
            for user in self._collection("users", records.parse_user, since):
                if school_id in user.org_ids:
                    yield user
        except OneRosterError as exc:
            self._raise_for_school(exc, school_id)

    def school_rosters(
        self,
        schools: Iterable[tuple[str, datetime | None]],
        on_wait: Callable[[], None] | None = None,
    ) -> ReadAhead[records.Class | records.Enrollment]:
        """Each school's classes, then its enrollments (changed since its own date, if
        any), as one iterator of records per school, in the order given.

        The next schools are read ahead in the background, unless the settings ask for
        one request at a time. A school's failure is raised (SCHOOL_READ_FAILED) by its
        own iterator, after its records read before the failure; the caller may go on
        with the next school. ``on_wait`` is called while the caller waits for records
        read in the background. Use as a context manager.
        """

        def roster(school_id: str, since: datetime | None) -> Callable[[], Iterator]:
            def read() -> Iterator[records.Class | records.Enrollment]:
                yield from self.classes(school_id, since=since)
                yield from self.enrollments(school_id, since=since)

            return read

        ahead = READ_AHEAD_SCHOOLS if self.settings.concurrency > 1 else 0
        return ReadAhead((roster(sid, since) for sid, since in schools), ahead, on_wait)

    # --- connection test --------------------------------------------------------------

    def check(self) -> ConnectionCheck:
        """Authenticate, read one page of schools, report version/auth/count; never raises."""
        return check_connection(self)
