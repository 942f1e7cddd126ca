"""How many requests one client may have in flight to its SIS: never more than the cap,
fewer while the SIS says it is overloaded.

The cap is the integration's (some SIS vendors allow 5 or fewer) or the sync's default.
Below it the limit follows AIMD, as TCP does: it halves when the SIS answers 429 or its
latency climbs to twice its usual and by at least ``latency_margin`` seconds, at most
once per window (as many completions as the limit allowed when it changed), and grows
back by one after each window of answers without such a sign. A climb of latency
becomes the new usual once the limit has halved for it, so a SIS that is simply slower
today is read at the cap again after a few windows, not ratcheted down to one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from .errors import ErrorCode, OneRosterError

_SMOOTHING = 0.2  # weight of the newest latency in the running average
_WAIT = 0.1  # seconds between a waiting request's checks of its cancel flag


class InFlightLimit:
    """A semaphore whose size moves between 1 and ``cap``; safe across threads."""

    def __init__(
        self,
        cap: int,
        *,
        latency_margin: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = max(1, int(cap))
        self.limit = self.cap
        self.latency_margin = latency_margin
        self.in_flight = 0
        self.peak = 0  # most requests ever in flight at once
        self.decreases = 0
        self._clock = clock
        self._cond = threading.Condition()
        self._since_change = 0  # completions since the limit last changed
        self._since_decrease: int | None = None  # completions since it last halved
        self._average: float | None = None  # smoothed latency of answered requests
        self._usual: float | None = None  # the lowest smoothed latency seen
        self._busy = 0.0  # integral of in_flight over time (request-seconds)
        self._mark = clock()

    def _account(self) -> None:
        now = self._clock()
        self._busy += self.in_flight * (now - self._mark)
        self._mark = now

    @property
    def busy_seconds(self) -> float:
        """Request-seconds spent in flight so far (divided by wall time: the mean in flight)."""
        with self._cond:
            self._account()
            return self._busy

    @contextmanager
    def slot(self, abort: Callable[[], bool] | None = None):
        """Hold one request slot; report the answer's latency when the block ends.

        An exception leaves the slot without a latency sample (it was no answer)."""
        with self._cond:
            while self.in_flight >= self.limit:
                if abort is not None and abort():
                    raise OneRosterError(ErrorCode.CANCELLED, "The read was cancelled.")
                self._cond.wait(_WAIT)
            self._account()
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        started = self._clock()
        answered = False
        try:
            yield
            answered = True
        finally:
            with self._cond:
                self._account()
                self.in_flight -= 1
                if answered:
                    self._answered(self._clock() - started)
                self._cond.notify_all()

    def throttled(self) -> None:
        """The SIS answered 429: halve the limit (once per window)."""
        with self._cond:
            self._decrease()

    def _decrease(self) -> bool:
        if self._since_decrease is not None and self._since_decrease < self.limit:
            return False  # this window already halved the limit
        self.limit = max(1, self.limit // 2)
        self.decreases += 1
        self._since_change = 0
        self._since_decrease = 0
        return True

    def _answered(self, latency: float) -> None:
        average = (
            latency
            if self._average is None
            else (_SMOOTHING * latency + (1 - _SMOOTHING) * self._average)
        )
        self._average = average
        self._since_change += 1
        if self._since_decrease is not None:
            self._since_decrease += 1
        if self._usual is None or average < self._usual:
            self._usual = average
        if average > 2 * self._usual and average - self._usual >= self.latency_margin:
            if self._decrease():
                self._usual = average  # the new usual: grow back from here
            return
        if self._since_change >= self.limit and self.limit < self.cap:
            self.limit += 1
            self._since_change = 0
            self._cond.notify_all()
