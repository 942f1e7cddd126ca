"""Space out the cyclic garbage collector's runs while a sync runs.

A sync allocates millions of short-lived containers (every record read is a few dicts
and lists, every row fetched a tuple), nearly all freed by reference counting as soon
as they are staged or written. CPython's default threshold still starts a young
collection every 700 net allocations, and the survivors of each (the pages being
parsed, the rows being written) climb into the older generations, so the full
collections that follow walk every live object again and again, holding the GIL that
the read's parsing threads need. A young threshold of ``YOUNG`` lets most of that
garbage die by reference count first. Garbage in reference cycles is still collected,
after ``YOUNG`` net allocations instead of 700 (docs/performance.md has the time saved
and the peak memory, which did not move).

Process-wide, as the collector is: set by the first sync running in the process and
put back by the last one to end.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 100_000

_lock = threading.Lock()
_running = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Young collections every ``YOUNG`` net allocations (or the process's own setting,
    if higher) while the block runs."""
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(YOUNG, _saved[0]), *_saved[1:])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_saved)
