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
import time as _time
from collections.abc import Iterator, Mapping
from datetime import datetime

from flask import current_app
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
from sqlalchemy import literal, select
from sqlalchemy.engine import Connection

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, Region, SyncTrigger
from sisapp.models.types import UTCDateTime, utcnow
from sisapp.schedule import regional
from sisapp.schedule.planner import PlanSettings, overflow
from sisapp.services import health
from sisapp.services.run_stats import (
    ACTIVE,
    DURATION_BUCKETS,
    FINISHED,
    RunStats,
    Totals,
    seconds_between,
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


def app_registry(app) -> CollectorRegistry:
    """The app's own registry (never the process-global default), created once."""
    registry = app.extensions.get("sisapp_metrics")
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SyncCollector())
        app.extensions["sisapp_metrics"] = registry
    return registry


def exposition(app) -> bytes:
    """The text exposition format of every metric, read now."""
    return generate_latest(app_registry(app))


OVERFLOW_SECONDS = 300


class SyncCollector(Collector):
    """Yields the sync and queue metric families; needs an app context when collected."""

    def __init__(self) -> None:
        self.stats = RunStats()
        self._overflow: tuple[float, dict] | None = None

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[Metric]:
        config = current_app.config
        now = utcnow()
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # one snapshot for every query
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            totals = self.stats.totals(conn, now, float(config["SYNC_JOB_TIMEOUT"]))
            yield from run_families(totals)
            yield duration_family(totals)
            yield last_success_family(conn, totals, now)
        yield self.overflow_family(config, now)
        yield from redis_families(config)

    def overflow_family(self, config, now: datetime) -> Metric:
        """How far each region's planned day runs past its 24-hour window (0: it fits).
        Planning a large install takes a fraction of a second, so a scrape reuses the
        figures for OVERFLOW_SECONDS (plans move only as runs finish)."""
        cached = self._overflow
        if cached is None or _time.monotonic() - cached[0] > OVERFLOW_SECONDS:
            settings = PlanSettings.from_config(config)
            values = {}
            for region in Region:
                slot = regional.open_slot(region, now) or regional.next_slot(region, now)
                values[region.value] = overflow(region, slot, settings).total_seconds()
            self._overflow = cached = (_time.monotonic(), values)
        family = GaugeMetricFamily(
            "sisapp_schedule_overflow_seconds",
            "How far the region's planned day runs past its 24-hour window (0: it fits).",
            labels=["region"],
        )
        for region, seconds in cached[1].items():
            family.add_metric([region], seconds)
        return family


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


def last_success_family(conn: Connection, totals: Totals, now: datetime) -> Metric:
    """Seconds since each integration's last succeeded run (since it was added, if none);
    the database works out the ages since creation, so no 10,000 dates are parsed here."""
    family = GaugeMetricFamily(
        "sisapp_integration_last_success_age_seconds",
        "Seconds since the integration's last succeeded sync (since it was added, if none).",
        labels=["integration_id", "device_id"],
    )
    since_added = seconds_between(
        conn, OneRosterIntegration.created_at, literal(now, UTCDateTime())
    )
    last = totals.last_success
    for integration_id, device_id, age in conn.execute(
        select(OneRosterIntegration.id, OneRosterIntegration.device_id, since_added)
    ):
        at = last.get(integration_id)
        age = (now - at).total_seconds() if at is not None else float(age)
        family.add_metric([str(integration_id), str(device_id)], age)
    return family


def redis_families(config: Mapping) -> Iterator[Metric]:
    """Queue depth per queue and live workers; only ``sisapp_redis_up 0`` without Redis."""
    connection = health.redis_client(config)
    names = health.queue_names(config)
    try:
        depths = {name: Queue(name, connection=connection).count for name in names}
        workers = health.live_workers(connection, names, float(config["WORKER_HEARTBEAT_MAX_AGE"]))
    except RedisError:
        yield GaugeMetricFamily("sisapp_redis_up", "1 when Redis answered this scrape.", value=0)
        return
    yield GaugeMetricFamily("sisapp_redis_up", "1 when Redis answered this scrape.", value=1)
    depth = GaugeMetricFamily(
        "sisapp_queue_depth", "Jobs waiting in the RQ queue.", labels=["queue"]
    )
    for name, count in depths.items():
        depth.add_metric([name], count)
    yield depth
    yield GaugeMetricFamily(
        "sisapp_workers_live",
        "RQ workers on the sync queues with a recent heartbeat (WORKER_HEARTBEAT_MAX_AGE).",
        value=workers,
    )
