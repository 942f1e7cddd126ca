"""Totals of the sync_run table for the metrics: runs by outcome, records read, the
duration histogram and each integration's last success, exact at every scrape.

Old runs do not change: a finished run whose worker is past its time limit can no
longer write to its row. Their totals (the "settled" runs: every id up to the first one
that is still active or younger than SYNC_JOB_TIMEOUT) are kept per process and only
newer rows are read at each scrape, so a scrape costs the last hours of runs, not the
whole history. The settled part is checked each time (row count and the marker row):
a deleted integration takes its runs along, and then the totals are read again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.engine import Connection

from sisapp.models import SyncRun, SyncStatus, SyncTrigger

FINISHED = (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL, SyncStatus.FAILED, SyncStatus.CANCELLED)
ACTIVE = (SyncStatus.QUEUED, SyncStatus.RUNNING)
# Upper bounds in seconds: district syncs run from minutes to four hours (the job limit is 6 h).
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200)
# A last resort against rows changed behind the app's back (hand-written SQL).
REBUILD_AFTER = 3600.0


@dataclass
class Totals:
    runs: Counter = field(default_factory=Counter)  # (status, trigger) -> runs
    records: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    timed: int = 0  # finished runs with a start and an end (the histogram's count)
    seconds: float = 0.0
    last_success: dict[int, datetime] = field(default_factory=dict)  # integration -> finished_at
    rows: int = 0

    def __add__(self, other: Totals) -> Totals:
        last = dict(self.last_success)
        for integration_id, at in other.last_success.items():
            if integration_id not in last or at > last[integration_id]:
                last[integration_id] = at
        return Totals(
            runs=self.runs + other.runs,
            records=self.records + other.records,
            buckets=[a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
            timed=self.timed + other.timed,
            seconds=self.seconds + other.seconds,
            last_success=last,
            rows=self.rows + other.rows,
        )


def seconds_between(conn: Connection, start, end):
    """``end - start`` in seconds as a float, in the database's own date arithmetic
    (SQLite's julian days carry ~50 µs of float error: rounded to the millisecond)."""
    if conn.dialect.name == "sqlite":
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return func.date_part("epoch", end - start)  # double precision (EXTRACT gives numeric)


def read_totals(conn: Connection, after: int, upto: int | None = None) -> Totals:
    """The totals of the runs with ``after < id <= upto``, in three GROUP BY queries."""
    ids = [SyncRun.id > after] + ([SyncRun.id <= upto] if upto is not None else [])
    totals = Totals()
    for status, trigger, count, read in conn.execute(
        select(
            SyncRun.status,
            SyncRun.trigger,
            func.count(),
            func.coalesce(func.sum(SyncRun.records_read), 0),
        )
        .where(*ids)
        .group_by(SyncRun.status, SyncRun.trigger)
    ):
        totals.runs[(SyncStatus(status), SyncTrigger(trigger))] += count
        totals.records += int(read)
        totals.rows += count
    timed = (
        select(seconds_between(conn, SyncRun.started_at, SyncRun.finished_at).label("s"))
        .where(
            *ids,
            SyncRun.status.in_(FINISHED),
            SyncRun.started_at.is_not(None),
            SyncRun.finished_at.is_not(None),
        )
        .offset(0)  # computed once per row: SQLite does not fold a subquery with an OFFSET
        .subquery()
    )
    counts = [
        func.coalesce(func.sum(case((timed.c.s <= b, 1), else_=0)), 0) for b in DURATION_BUCKETS
    ]
    totals.timed, seconds, *buckets = conn.execute(
        select(func.count(), func.coalesce(func.sum(timed.c.s), 0), *counts)
    ).one()
    totals.seconds, totals.buckets = float(seconds), [int(n) for n in buckets]
    totals.last_success = dict(
        conn.execute(
            select(SyncRun.integration_id, func.max(SyncRun.finished_at))
            .where(*ids, SyncRun.status == SyncStatus.SUCCEEDED)
            .group_by(SyncRun.integration_id)
        ).all()
    )
    return totals


@dataclass
class _Settled:
    upto: int = 0
    marker: datetime | None = None  # queued_at of row `upto`: SQLite may reuse a deleted id
    totals: Totals = field(default_factory=Totals)
    built: float = field(default_factory=time.monotonic)


class RunStats:
    """The settled runs' totals of one process, brought up to date at each scrape."""

    def __init__(self) -> None:
        self._settled = _Settled()
        self._lock = threading.Lock()

    def totals(self, conn: Connection, now: datetime, job_timeout: float) -> Totals:
        """Every run's totals as the table holds them now (``conn``: one snapshot)."""
        with self._lock:
            settled = self._settled
            if not self._intact(conn, settled):
                settled = _Settled()
            upto = self._settle_point(
                conn, settled.upto, now - timedelta(seconds=job_timeout + 600)
            )
            if upto > settled.upto:
                more = read_totals(conn, settled.upto, upto)
                marker = conn.scalar(select(SyncRun.queued_at).where(SyncRun.id == upto))
                settled = _Settled(upto, marker, settled.totals + more, settled.built)
            self._settled = settled
            return settled.totals + read_totals(conn, settled.upto)

    @staticmethod
    def _intact(conn: Connection, settled: _Settled) -> bool:
        if not settled.upto:
            return True
        if time.monotonic() - settled.built > REBUILD_AFTER:
            return False
        # All rows minus the newer ones: a whole-table count is cheap (SQLite counts an index).
        everything = conn.scalar(select(func.count()).select_from(SyncRun))
        rows = everything - conn.scalar(select(func.count()).where(SyncRun.id > settled.upto))
        marker = conn.scalar(select(SyncRun.queued_at).where(SyncRun.id == settled.upto))
        return rows == settled.totals.rows and marker == settled.marker

    @staticmethod
    def _settle_point(conn: Connection, after: int, young: datetime) -> int:
        """The highest id below which every run is finished and past its worker's time."""
        unsettled = conn.scalar(
            select(func.min(SyncRun.id)).where(
                SyncRun.id > after,
                or_(
                    SyncRun.status.in_(ACTIVE),
                    SyncRun.started_at >= young,
                    SyncRun.queued_at >= young,
                ),
            )
        )
        if unsettled is not None:
            return unsettled - 1
        return conn.scalar(select(func.coalesce(func.max(SyncRun.id), 0)))
