"""limit/offset paging that neither stops early nor loops forever.

Real servers differ in how they say "there is more": ``X-Total-Count``, a ``Link``
header with ``rel="next"``, both (and then the next link wins when they disagree), or
nothing at all. Servers also cap the page size silently, so a short page is NOT the end
while the total or a next link says more (stopping there is the classic bug that
silently drops users), and some ignore ``offset`` and send the first page forever.

When the total is known after the first page, the remaining offsets are fetched by a
small thread pool, at most ``2 * concurrency`` pages in flight and yielded in order, so
memory stays flat and a slow SIS is read several pages at a time. Each page is read
in a copy of the caller's context variables (its log tags), as if in its own thread.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from .errors import ErrorCode, OneRosterError
from .urls import path_of

# Wrapper keys real servers use besides the collection's own plural name.
ALTERNATIVE_KEYS = {
    "schools": ("orgs",),
    "terms": ("academicSessions",),
    "gradingPeriods": ("academicSessions",),
    "students": ("users",),
    "teachers": ("users",),
    "parents": ("users",),
}


@dataclass(slots=True)
class Page:
    """One page as the pager needs it: its records, their sourcedIds and the server's
    paging signals."""

    rows: list
    ids: tuple
    total: int | None
    next_url: str | None
    has_links: bool
    url: str


def build_url(base: str, params: dict) -> str:
    """``base?query`` with %20-style quoting, so the OAuth 1.0a signature covers what is sent."""
    clean = {key: value for key, value in params.items() if value is not None}
    return f"{base}?{urlencode(clean, quote_via=quote)}" if clean else base


def since_filter(since: datetime | None) -> str | None:
    """The OneRoster filter for records changed after ``since`` (naive means UTC)."""
    if since is None:
        return None
    moment = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    return f"dateLastModified>'{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def all_of(*clauses: str | None) -> str | None:
    """Filter clauses joined with AND; None when there are none."""
    present = [clause for clause in clauses if clause]
    return " AND ".join(present) or None


def collection_keys(collection_url: str) -> tuple[str, ...]:
    """Keys a page of this collection may be wrapped in, preferred first."""
    name = path_of(collection_url).rstrip("/").rsplit("/", 1)[-1]
    return (name, *ALTERNATIVE_KEYS.get(name, ()))


def _is_meta_key(key: str) -> bool:
    lowered = key.lower()
    return (
        lowered.startswith("imsx")
        or lowered.startswith("statusinfo")
        or lowered in ("links", "errors")
    )


def extract_rows(data: object, keys: tuple[str, ...], path: str) -> list:
    """The list of records in a page: its named key, an alternative, the only list, or a bare array."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                value = data[key]
                if value is None:
                    return []
                if isinstance(value, list):
                    return value
                raise OneRosterError(
                    ErrorCode.MALFORMED_PAGE,
                    f"The '{key}' collection in the page is not a list.",
                    path=path,
                )
        lists = [v for k, v in data.items() if isinstance(v, list) and not _is_meta_key(k)]
        if len(lists) == 1:
            return lists[0]
        found = ", ".join(sorted(data)[:8]) or "nothing"
        raise OneRosterError(
            ErrorCode.MALFORMED_PAGE,
            f"The page has no '{keys[0]}' collection (found: {found}).",
            path=path,
        )
    raise OneRosterError(
        ErrorCode.MALFORMED_PAGE, "The page is not a JSON object or array.", path=path
    )


def row_ids(rows: list) -> tuple:
    """The raw sourcedIds of a page's rows, to tell a repeated page (offset ignored)."""
    return tuple(row.get("sourcedId") if isinstance(row, dict) else None for row in rows)


Fetch = Callable[[str, Callable[[], bool] | None], Page]


class Pager:
    """Iterates the pages of one collection read; yields lists of raw records in order.

    ``X-Total-Count`` plans the concurrent read but never ends a read on its own: once
    the total is reached, the read ends on a short page from a server seen to fill its
    pages (in this read, or at that limit in an earlier one: ``full_limits``, shared by
    the client), else one more page is asked for and must come back empty. So a total
    that is the page's row count, or capped (some servers stop counting at 10,000), costs
    one request instead of the rest of the collection. A total that is negative, zero
    or below what was received is ignored (``on_bad_total``), as if there were none.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        page_size: int,
        concurrency: int,
        should_stop: Callable[[], bool],
        log: Callable[[str], None],
        on_bad_total: Callable[[str, int], None] | None = None,
        full_limits: set[int] | None = None,
    ) -> None:
        self.fetch = fetch
        self.page_size = page_size
        self.concurrency = concurrency
        self.should_stop = should_stop
        self.log = log
        self.on_bad_total = on_bad_total or (lambda url, total: None)
        self.full_limits = set() if full_limits is None else full_limits

    def _check_stop(self, url: str) -> None:
        if self.should_stop():
            raise OneRosterError(ErrorCode.CANCELLED, "The read was cancelled.", path=path_of(url))

    def _total(self, page: Page, received: int) -> int | None:
        """The page's total if it can be true after ``received`` records, else None."""
        if page.total is None:
            return None
        if page.total <= 0 < received or page.total < received:
            self.on_bad_total(page.url, page.total)
            return None
        return page.total

    def _ends(self, count: int, limit: int, most: int) -> bool:
        """A short page of ``count`` rows from a server seen to fill pages (``most``
        rows in this read, or ``limit`` rows in any)."""
        if count >= limit:
            self.full_limits.add(limit)
            return False
        return count < most or limit in self.full_limits

    def pages(self, base: str, params: dict) -> Iterator[list]:
        """All pages of ``base`` with ``params`` (filter etc.), as lists of raw records."""
        limit = self.page_size
        self._check_stop(base)
        first = self.fetch(
            build_url(base, {**params, "limit": limit, "offset": 0}), self.should_stop
        )
        rows = first.rows
        total = self._total(first, len(rows))
        if (
            self.concurrency > 1
            and rows
            and total is not None
            and total > len(rows)
            and not (first.has_links and not first.next_url)
        ):
            yield from self._concurrent(base, params, first, total)
            return
        yield from self._serial(base, params, first, offset=0, limit=limit, prev_ids=None)

    def _serial(
        self,
        base: str,
        params: dict,
        page: Page,
        *,
        offset: int,
        limit: int,
        prev_ids: tuple | None,
        prev_done: bool = False,
    ) -> Iterator[list]:
        most = 0  # the most rows a page of this read held
        while True:
            rows = page.rows
            ids = page.ids
            if rows and ids == prev_ids:
                if prev_done and not page.has_links:
                    # Offset ignored, but the previous page looked like the end.
                    self.log(f"server ignores offset at {path_of(page.url)}; one page was all")
                    return
                raise OneRosterError(
                    ErrorCode.PAGING_STUCK,
                    f"The SIS sent the same page again at offset {offset}; it ignores 'offset'.",
                    path=path_of(page.url),
                )
            yield rows
            if not rows:
                return
            offset += len(rows)
            total = self._total(page, offset)
            short = len(rows) < limit
            if page.next_url:
                url = page.next_url
            elif page.has_links:
                return  # the server pages by links and gives no next link: done
            elif total is not None and offset >= total and self._ends(len(rows), limit, most):
                return
            else:
                # No total, one that may be wrong, or one saying more: only an empty page
                # (or the same page again after the end) is the end.
                self._ends(len(rows), limit, most)
                url = build_url(base, {**params, "limit": limit, "offset": offset})
            most = max(most, len(rows))
            prev_ids = ids
            prev_done = short or (total is not None and offset >= total)
            self._check_stop(url)
            page = self.fetch(url, self.should_stop)

    def _concurrent(self, base: str, params: dict, first: Page, total: int) -> Iterator[list]:
        step = len(first.rows)  # the server's real page size (it may cap our limit)
        if step < self.page_size:
            self.log(f"server caps pages at {step} rows at {path_of(first.url)}")
        self.full_limits.add(step)  # the total says more: the first page was full
        yield first.rows
        stop_event = threading.Event()
        offsets = iter(range(step, total, step))
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="oneroster")
        in_flight: deque[tuple[int, Future]] = deque()

        def submit() -> None:
            for offset in offsets:
                url = build_url(base, {**params, "limit": step, "offset": offset})
                # In the caller's context (a copy per page: one context cannot be
                # entered by two threads at once), so the fetch's log lines carry the
                # caller's tags (the run's ids) as its own lines do.
                read = contextvars.copy_context().run
                in_flight.append(
                    (offset, executor.submit(read, self.fetch, url, stop_event.is_set))
                )
                if len(in_flight) >= 2 * self.concurrency:
                    return

        prev_ids = first.ids
        last, last_rows, last_got, position = first, first.rows, step, step
        try:
            submit()
            while in_flight:
                offset, future = in_flight.popleft()
                self._check_stop(base)
                page = future.result()
                rows = page.rows
                ids = page.ids
                if rows and ids == prev_ids:
                    raise OneRosterError(
                        ErrorCode.PAGING_STUCK,
                        f"The SIS sent the same page again at offset {offset}; it ignores 'offset'.",
                        path=path_of(page.url),
                    )
                yield rows
                prev_ids = ids
                last, last_rows = page, rows
                got, expected = len(rows), min(step, total - offset)
                while 0 < got < expected:  # a short page in the middle: read the gap
                    self._check_stop(base)
                    url = build_url(
                        base, {**params, "limit": expected - got, "offset": offset + got}
                    )
                    gap = self.fetch(url, self.should_stop)
                    if not gap.rows or gap.ids == prev_ids:
                        break
                    yield gap.rows
                    prev_ids = gap.ids
                    got += len(gap.rows)
                last_got, position = got, offset + got
                if page.has_links and not page.next_url:
                    return  # the next link (absent) wins over the total
                submit()
        finally:
            stop_event.set()
            executor.shutdown(wait=True, cancel_futures=True)
        if not last_rows:
            return
        if last.next_url:
            url = last.next_url  # the total said "done" but the server links to more
        elif self._ends(last_got, step, step):
            return
        else:  # a full last page: the total may be capped or wrong, one more page decides
            url = build_url(base, {**params, "limit": step, "offset": position})
        self._check_stop(url)
        page = self.fetch(url, self.should_stop)
        yield from self._serial(
            base, params, page, offset=position, limit=step, prev_ids=prev_ids, prev_done=True
        )
