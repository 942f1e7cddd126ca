"""Fault injection switches for the demo SIS.

A ``Faults`` object is read on every request, so tests can flip a fault on between two
syncs (``server.faults.error_rate = 0.2``) without restarting the server. Random faults
draw from their own seeded generator so a failing test can be replayed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What goes wrong, and how often.

    - ``latency_ms``: sleep before answering each data request (not the token endpoint).
    - ``error_rate`` / ``rate_limit_rate``: share of data requests answered 500 / 429
      (429s carry ``Retry-After: retry_after``).
    - ``max_page_size``: cap ``limit`` silently below what the client asks.
    - ``no_total_count``: omit ``X-Total-Count`` (and the ``last`` link, which needs it).
    - ``malformed_at``: ``("enrollments", 200)`` answers the page containing that offset
      of that collection (top-level or per school) with a truncated JSON body.
    - ``broken_school``: sourcedId or index in ``district.schools``; that school's
      per-school endpoints (and top-level lists filtered to it) answer 500.
    - ``token_expiry``: OAuth2 tokens stop working after this many seconds, whatever
      ``expires_in`` promised.
    - ``changed_share``: when set above 0 on a running server, that share of records is
      changed once (``District.apply_changes``) before the next request is served.
    - ``lying_total``: ``"negative"`` (-98596497, as the OneRoster 1.2 spec mock sends),
      ``"zero"`` or ``"page"`` (the page's own row count) in ``X-Total-Count``, and no
      ``Link`` header, so a client has only the total and the pages to go by.
    - ``no_schools``: the schools are sent as orgs of type ``department``, so
      ``/schools`` is empty (real sample data types its orgs district/local/department).
    - ``flaky_page``: ``("enrollments", 200, 9)`` answers the first 9 requests for the
      page containing that offset of that collection (top-level or per school) with 500.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    max_page_size: int | None = None
    no_total_count: bool = False
    malformed_at: tuple[str, int] | None = None
    broken_school: str | int | None = None
    token_expiry: float | None = None
    changed_share: float = 0.0
    lying_total: str | None = None
    no_schools: bool = False
    flaky_page: tuple[str, int, int] | None = None
    seed: int = 0
    flaky_served: int = field(default=0, init=False, compare=False)
    _rng: random.Random = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def roll(self) -> str | None:
        """Decide this request's random fault: ``"429"``, ``"500"`` or None."""
        if not self.error_rate and not self.rate_limit_rate:
            return None
        with self._lock:
            draw = self._rng.random()
        if draw < self.rate_limit_rate:
            return "429"
        if draw < self.rate_limit_rate + self.error_rate:
            return "500"
        return None

    def lie_about(self, total: int, rows: int) -> str:
        """The ``X-Total-Count`` sent for a page of ``rows`` out of ``total``."""
        return {"negative": "-98596497", "zero": "0", "page": str(rows)}.get(
            self.lying_total or "", str(total)
        )

    def flaky(self, names, offset: int, limit: int) -> bool:
        """Whether this request for a page is one of the ``flaky_page`` failures."""
        if not self.flaky_page:
            return False
        collection, at, failures = self.flaky_page
        if collection not in names or not offset <= at < offset + limit:
            return False
        with self._lock:
            self.flaky_served += 1
            return self.flaky_served <= failures

    def broken_school_id(self, schools) -> str | None:
        """The sourcedId of the broken school, resolving an index against ``schools``."""
        value = self.broken_school
        if value is None or value == "":
            return None
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            index = int(value)
            if 0 <= index < len(schools):
                return schools[index]["sourcedId"]
        return str(value)


def parse_malformed_at(text: str | None) -> tuple[str, int] | None:
    """Parse ``COLLECTION:OFFSET`` (the CLI form of ``malformed_at``)."""
    if not text:
        return None
    collection, _, offset = text.partition(":")
    return collection, int(offset or 0)
