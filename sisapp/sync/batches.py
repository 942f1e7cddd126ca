"""Cut lists into batches, so no statement binds more parameters than a database takes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

IDS = 500  # values in one ``IN (...)`` list
ROWS = 5000  # rows in one executemany insert


def batched(items: Sequence, size: int = IDS) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` of at most ``size`` (itertools.batched is 3.12+)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
