"""Prometheus metrics computed at scrape time from the database and Redis.

Nothing is counted in process memory: every gunicorn process (and every machine) reads
the same rows and keys, so any of them answers a scrape with the same figures and no
multiprocess directory is needed. Each figure is a handful of GROUP BY queries (docs/
operations.md, "Monitoring", lists the metrics; docs/performance.md their cost).
"""

from __future__ import annotations

import hmac
import os
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
from sqlalchemy import case, func, literal, select

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import UTCDateTime, utcnow
from sisapp.services import health

FINISHED = (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL, SyncStatus.FAILED, SyncStatus.CANCELLED)
ACTIVE = (SyncStatus.QUEUED, SyncStatus.RUNNING)
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Upper bounds in seconds: district syncs run from minutes to four hours (the job limit is 6 h).
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200)


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


class SyncCollector(Collector):
    """Yields the sync and queue metric families; needs an app context when collected."""

    def describe(self) -> list[Metric]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        yield from run_families()
        yield duration_family()
        yield last_success_family(now)
        yield from redis_families(current_app.config)


def run_families() -> Iterator[Metric]:
    """Runs by status and trigger, records read, and the runs queued or running now."""
    rows = db.session.execute(
        select(
            SyncRun.status,
            SyncRun.trigger,
            func.count(),
            func.coalesce(func.sum(SyncRun.records_read), 0),
        ).group_by(SyncRun.status, SyncRun.trigger)
    ).all()
    finished = {(s, t): 0 for s in FINISHED for t in SyncTrigger}
    active = dict.fromkeys(ACTIVE, 0)
    records = 0
    for status, trigger, count, read in rows:
        records += int(read)
        if status in active:
            active[status] += count
        else:
            finished[(status, trigger)] = count
    runs = CounterMetricFamily(
        "sisapp_sync_runs",
        "Finished sync runs by outcome and trigger (rows of sync_run).",
        labels=["status", "trigger"],
    )
    for (status, trigger), count in finished.items():
        runs.add_metric([status.value, trigger.value], count)
    yield runs
    yield CounterMetricFamily(
        "sisapp_sync_records_read",
        "SIS records read by all sync runs.",
        value=records,
    )
    gauge = GaugeMetricFamily(
        "sisapp_sync_runs_active", "Sync runs queued or running now.", labels=["status"]
    )
    for status, count in active.items():
        gauge.add_metric([status.value], count)
    yield gauge


def _seconds(start, end):
    """``end - start`` in seconds as a float, in the database's own date arithmetic
    (SQLite's julian days carry ~50 µs of float error: rounded to the millisecond)."""
    if db.engine.dialect.name == "sqlite":
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return func.date_part("epoch", end - start)  # double precision (EXTRACT gives numeric)


def duration_family() -> Metric:
    """A histogram of finished runs' durations, every bucket counted by one SQL query."""
    runs = (
        select(_seconds(SyncRun.started_at, SyncRun.finished_at).label("seconds"))
        .where(
            SyncRun.status.in_(FINISHED),
            SyncRun.started_at.is_not(None),
            SyncRun.finished_at.is_not(None),
        )
        .offset(0)  # computed once per row: SQLite does not fold a subquery with an OFFSET
        .subquery()
    )
    seconds = runs.c.seconds
    counts = [
        func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in DURATION_BUCKETS
    ]
    total, total_seconds, *cumulative = db.session.execute(
        select(func.count(), func.coalesce(func.sum(seconds), 0), *counts)
    ).one()
    buckets = [(str(float(b)), int(n)) for b, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
    return HistogramMetricFamily(
        "sisapp_sync_duration_seconds",
        "Duration of finished sync runs (started to finished).",
        buckets=[*buckets, ("+Inf", int(total))],
        sum_value=float(total_seconds),
    )


def last_success_family(now: datetime) -> Metric:
    """Seconds since each integration's last succeeded run (since it was created if none),
    worked out by the database so 10,000 rows come back as numbers, not dates to parse."""
    last = (
        select(SyncRun.integration_id, func.max(SyncRun.finished_at).label("at"))
        .where(SyncRun.status == SyncStatus.SUCCEEDED)
        .group_by(SyncRun.integration_id)
        .subquery()
    )
    since = func.coalesce(last.c.at, OneRosterIntegration.created_at)
    rows = db.session.execute(
        select(
            OneRosterIntegration.id,
            OneRosterIntegration.device_id,
            _seconds(since, literal(now, UTCDateTime())),
        ).outerjoin(last, last.c.integration_id == OneRosterIntegration.id)
    )
    family = GaugeMetricFamily(
        "sisapp_integration_last_success_age_seconds",
        "Seconds since the integration's last succeeded sync (since it was added, if none).",
        labels=["integration_id", "device_id"],
    )
    for integration_id, device_id, age in rows:
        family.add_metric([str(integration_id), str(device_id)], float(age))
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
