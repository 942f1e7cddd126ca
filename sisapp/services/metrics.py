"""Prometheus metrics computed at scrape time from the database and Redis.

Nothing is counted as it happens in process memory: every gunicorn process (and every
machine) derives the figures from the same rows and keys, so any of them answers a
scrape the same and no multiprocess directory is needed (``run_stats`` explains how the
history is read without re-reading every old run). docs/operations.md, "Monitoring",
lists the metrics.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, Region, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services import health
from sisapp.services.run_stats import (
    ACTIVE,
    DURATION_BUCKETS,
    FINISHED,
    RunStats,
    Totals,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def metrics_token(config: Mapping) -> str:
    """The configured token as text (SISAPP_* values that look like JSON are parsed)."""
    token = config.get("METRICS_TOKEN") or ""
    if not isinstance(token, str):
        token = os.environ.get("SISAPP_METRICS_TOKEN") or str(token)
    return token.strip()


def token_matches(config: Mapping, authorization: str | None) -> bool:
    """True for ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time)."""
    expected = metrics_token(config)
    scheme, _, given = (authorization or "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def app_collector(app) -> SyncCollector:
    """The app's collector (it keeps the settled runs' totals), created once."""
    collector = app.extensions.get("sisapp_metrics")
    if collector is None:
        collector = app.extensions["sisapp_metrics"] = SyncCollector()
    return collector


def exposition(app) -> bytes:
    """The text exposition format of every metric, read now (needs an app context).

    prometheus_client writes the small families; the one with a sample per integration
    is written by ``last_success_text`` (see there why).
    """
    families, ages = app_collector(app).read(app.config)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry) + ages


class _Families(Collector):
    """Families already read, for prometheus_client's exposition."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class SyncCollector:
    """Reads the sync and queue metrics; needs an app context."""

    def __init__(self) -> None:
        self.stats = RunStats()
        self.integrations = IntegrationLines()

    def read(self, config: Mapping) -> tuple[list[Metric], bytes]:
        """(the families, the text of the per-integration family), from one database
        snapshot and a few Redis reads; nothing is planned or computed per scrape that
        another process keeps (the schedule's fit is the scheduler's, see redis_families)."""
        now = utcnow()
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # one snapshot for every query
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            totals = self.stats.totals(conn, now, float(config["SYNC_JOB_TIMEOUT"]))
            families = [*run_families(totals), duration_family(totals)]
            ages = last_success_text(conn, self.integrations, totals, now)
        families.extend(redis_families(config))
        return families, ages


def run_families(totals: Totals) -> Iterator[Metric]:
    """Runs by outcome and trigger, records read, and the runs queued or running now."""
    runs = CounterMetricFamily(
        "sisapp_sync_runs",
        "Finished sync runs by outcome and trigger (rows of sync_run).",
        labels=["status", "trigger"],
    )
    for status in FINISHED:
        for trigger in SyncTrigger:
            runs.add_metric([status.value, trigger.value], totals.runs[(status, trigger)])
    yield runs
    yield CounterMetricFamily(
        "sisapp_sync_records_read", "SIS records read by all sync runs.", value=totals.records
    )
    active = GaugeMetricFamily(
        "sisapp_sync_runs_active", "Sync runs queued or running now.", labels=["status"]
    )
    for status in ACTIVE:
        active.add_metric([status.value], sum(totals.runs[(status, t)] for t in SyncTrigger))
    yield active


def duration_family(totals: Totals) -> Metric:
    """The histogram of finished runs' durations (cumulative bucket counts)."""
    buckets = [(str(float(b)), n) for b, n in zip(DURATION_BUCKETS, totals.buckets, strict=True)]
    return HistogramMetricFamily(
        "sisapp_sync_duration_seconds",
        "Duration of finished sync runs (started to finished).",
        buckets=[*buckets, ("+Inf", totals.timed)],
        sum_value=totals.seconds,
    )


AGE_NAME = "sisapp_integration_last_success_age_seconds"
AGE_HELP = "Seconds since the integration's last succeeded sync (since it was added, if none)."


class IntegrationLines:
    """Each integration's sample name and labels (text) and creation time, read again
    only when the table's rows change (their count, highest id, newest creation time or
    sum of device ids moves): integrations come and go rarely, and building 10,000 rows
    at each scrape was most of its time."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._rows: list[tuple[int, str, datetime]] = []
        self._lock = threading.Lock()

    def rows(self, conn: Connection) -> list[tuple[int, str, datetime]]:
        """(integration id, the line up to its value, created at) of every integration."""
        i = OneRosterIntegration
        key = tuple(
            conn.execute(
                select(func.count(), func.max(i.id), func.max(i.created_at), func.sum(i.device_id))
            ).one()
        )
        with self._lock:
            if key != self._key:
                self._rows = [
                    (id_, f'{AGE_NAME}{{integration_id="{id_}",device_id="{device_id}"}} ', at)
                    for id_, device_id, at in conn.execute(
                        select(i.id, i.device_id, i.created_at).order_by(i.id)
                    ).all()
                ]
                self._key = key
            return self._rows


def last_success_text(
    conn: Connection, integrations: IntegrationLines, totals: Totals, now: datetime
) -> bytes:
    """The gauge of seconds since each integration's last succeeded run (since it was
    added, if none), in the text format, one line per integration.

    Written here, not by prometheus_client: its exposition validates and escapes every
    label name and value of every sample, which at 10,000 integrations was most of a
    scrape's time (docs/performance.md). These labels are integers, which need neither;
    tests/ops compare this text with what prometheus_client writes for the same samples.
    """
    last = totals.last_success
    lines = [f"# HELP {AGE_NAME} {AGE_HELP}\n# TYPE {AGE_NAME} gauge\n"]
    for integration_id, line, created in integrations.rows(conn):
        lines.append(f"{line}{(now - last.get(integration_id, created)).total_seconds()!r}\n")
    return "".join(lines).encode()


def redis_families(config: Mapping) -> Iterator[Metric]:
    """Queue depth per queue, live workers and the schedule's fit as the scheduler
    recorded it; only ``sisapp_redis_up 0`` without Redis."""
    connection = health.redis_client(config)
    names = health.queue_names(config)
    try:
        depths = {
            name: Queue(name, connection=connection).count
            for name in (*names, queue.mail_queue_name_of(config))
        }
        workers = health.live_workers(connection, names, float(config["WORKER_HEARTBEAT_MAX_AGE"]))
        with connection.pipeline(transaction=False) as pipe:
            for region in Region:
                pipe.hgetall(queue.schedule_fit_key(region.value))
            fits = dict(zip(Region, pipe.execute(), strict=True))
    except RedisError:
        yield GaugeMetricFamily("sisapp_redis_up", "1 when Redis answered this scrape.", value=0)
        return
    yield GaugeMetricFamily("sisapp_redis_up", "1 when Redis answered this scrape.", value=1)
    depth = GaugeMetricFamily(
        "sisapp_queue_depth", "Jobs waiting in the RQ queue (sync, mail).", labels=["queue"]
    )
    for name, count in depths.items():
        depth.add_metric([name], count)
    yield depth
    yield GaugeMetricFamily(
        "sisapp_workers_live",
        "RQ workers on the sync queues with a recent heartbeat (WORKER_HEARTBEAT_MAX_AGE).",
        value=workers,
    )
    yield from schedule_families(fits)


def schedule_families(fits: Mapping[Region, Mapping[bytes, bytes]]) -> Iterator[Metric]:
    """How each region's planned day fits its window, as the scheduler last recorded it
    (sisapp.scheduler.record_fit); a region with no recent record has no sample."""
    overflow = GaugeMetricFamily(
        "sisapp_schedule_overflow_seconds",
        "How far the region's planned day runs past its 24-hour window (0: it fits).",
        labels=["region"],
    )
    needed = GaugeMetricFamily(
        "sisapp_schedule_workers_needed",
        "The fewest workers whose plan fits the region's day (SYNC_WORKER_CAPACITY: enough?).",
        labels=["region"],
    )
    for region, fit in fits.items():
        if fit:
            overflow.add_metric([region.value], float(fit[b"overflow_seconds"]))
            needed.add_metric([region.value], float(fit[b"workers_needed"]))
    yield overflow
    yield needed
