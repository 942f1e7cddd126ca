"""Read the next streams of records while the caller still works on the current one.

A full sync reads every school's classes and enrollments, a few pages each. Read one
collection after another, each starts with one page alone (it carries the total) and
ends with fewer pages in flight than allowed, so against a SIS with 100 ms per page the
sync mostly waits. With read-ahead the next schools are read in the background and
their pages fill those idle request slots (the client caps requests in flight across
all streams at its concurrency, so the SIS sees no more load than before).

Each stream runs in a thread of its own and hands its records over in chunks through
a small bounded queue, so memory stays bounded: at most ``ahead`` streams are read
beyond the current one, and each holds a few chunks plus its pager's pages in flight.
A stream's failure reaches the caller where it happened, after the records read before
it, exactly as if the stream were read in the caller's thread.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_CHUNK = 1000  # records per hand-over
_BUFFER = 4  # chunks a stream may hold before its reader waits
_POLL = 0.1  # seconds between checks of a cancelled stream's flag
_WAIT = 0.25  # seconds between the caller's on_wait calls while it waits for records


class _Feed(Generic[T]):
    """One stream read in a background thread."""

    def __init__(self, open_stream: Callable[[], Iterable[T]], name: str) -> None:
        self._open = open_stream
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=_BUFFER)
        self._cancelled = threading.Event()
        # In a copy of the caller's context variables: its log tags (the run's ids).
        run = contextvars.copy_context().run
        self._thread = threading.Thread(target=run, args=(self._run,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: tuple[str, object]) -> bool:
        while not self._cancelled.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        stream = None
        chunk: list[T] = []
        try:
            stream = iter(self._open())
            for record in stream:
                chunk.append(record)
                if len(chunk) >= _CHUNK:
                    if not self._put(("records", chunk)):
                        return
                    chunk = []
            if chunk and not self._put(("records", chunk)):
                return
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            if not chunk or self._put(("records", chunk)):
                self._put(("error", exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a generator's finally blocks (the pager's threads) run here

    def records(self, on_wait: Callable[[], None] | None = None) -> Iterator[T]:
        while True:
            if on_wait is None:
                kind, value = self._queue.get()
            else:
                try:
                    kind, value = self._queue.get(timeout=_WAIT)
                except queue.Empty:
                    on_wait()
                    continue
            if kind == "records":
                yield from value
            elif kind == "end":
                return
            else:
                raise value

    def cancel(self) -> None:
        """Stop reading (the caller moved on or gave up) and wait for the thread."""
        self._cancelled.set()
        self._thread.join()


class ReadAhead(Generic[T]):
    """Iterates the streams ``opens`` describe, in order, as iterators of their records.

    Use as a context manager: leaving it (normally or by an exception) cancels the
    streams still running and waits for their threads. A stream the caller leaves
    unfinished is cancelled when the caller asks for the next one. With ``ahead=0``
    every stream is read in the caller's thread, one after another.

    ``on_wait`` is called in the caller's thread every fraction of a second while it
    waits for a stream's next records (a big school hands its first chunk over only
    after many pages), so the caller can still show progress and answer a cancel.
    """

    def __init__(
        self,
        opens: Iterable[Callable[[], Iterable[T]]],
        ahead: int,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self._opens = iter(opens)
        self._ahead = max(0, ahead)
        self._on_wait = on_wait
        self._running: deque[_Feed[T]] = deque()
        self._count = 0

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self, upto: int) -> None:
        while len(self._running) < upto:
            open_stream = next(self._opens, None)
            if open_stream is None:
                return
            self._count += 1
            self._running.append(_Feed(open_stream, f"oneroster-readahead-{self._count}"))

    def __iter__(self) -> Iterator[Iterator[T]]:
        if self._ahead == 0:
            for open_stream in self._opens:
                yield iter(open_stream())
            return
        while True:
            self._start(1 + self._ahead)
            if not self._running:
                return
            feed = self._running[0]
            yield feed.records(self._on_wait)
            self._running.popleft()
            feed.cancel()  # finished already, unless the caller left it early

    def close(self) -> None:
        while self._running:
            self._running.popleft().cancel()
