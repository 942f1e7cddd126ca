"""What one Prometheus scrape of /metrics costs at 10,000 integrations and 100,000 runs
(issue 20's target: under 100 ms).

    .venv/bin/python bench/metrics.py [--integrations 10000] [--runs 100000] [--scrapes 50]
                                      [--database-url postgresql://...]

A fresh SQLite file in a temporary directory, or a database of the script's own on the
PostgreSQL server named by --database-url (dropped at the end; the database named in
the URL is never written), is filled with devices, integrations and a history of
finished runs (2 minutes to 4 hours, mostly scheduled, mostly succeeded) plus a few
queued and running ones. Redis is REDIS_URL (default 127.0.0.1:6379) on a queue name of
the script's own; the scheduler's record of each region's fit is made once (and timed)
before the scrapes, as a running scheduler keeps it. Each scrape goes through the Flask
test client with the bearer token, so routing, the token check, every query and the
text exposition are in the figure;
the script prints median and p95 over --scrapes after two warm-up scrapes, and the
share of each metric family.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import Databases, percentile  # noqa: E402

TOKEN = "bench-metrics-token"
CHUNK = 5000


def fill(integrations: int, runs: int, seed: int) -> None:
    """Devices (ten integrations each), integrations and their run history, in bulk."""
    from sqlalchemy import insert

    from sisapp.extensions import db
    from sisapp.models import Device, OneRosterIntegration, Region, SyncRun

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    devices = max(1, integrations // 10)
    regions = list(Region)
    db.session.execute(
        insert(Device),
        [
            {
                "id": d + 1,
                "name": f"Device {d}",
                "region": regions[d % len(regions)],
                "created_at": now,
            }
            for d in range(devices)
        ],
    )
    rows = [
        {
            "id": i + 1,
            "device_id": i % devices + 1,
            "name": f"SIS {i}",
            "sis_vendor": "other",
            "endpoint_url": "https://sis.example/ims/oneroster/v1p1",
            "client_id": "client",
            "client_secret_encrypted": "not-a-real-token",
            "schools": [],
            "excluded_school_ids": [],
            "created_at": now - timedelta(days=400),
            "updated_at": now,
        }
        for i in range(integrations)
    ]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(OneRosterIntegration), rows[start : start + CHUNK])
    outcomes = ["succeeded"] * 85 + ["failed"] * 8 + ["partial"] * 5 + ["cancelled"] * 2
    batch = []
    for n in range(runs):
        integration = n % integrations
        seconds = int(120 * (120 ** rng.random()))  # log-uniform, 2 min to 4 h
        end = now - timedelta(days=180 * (1 - n / runs))  # ids follow time, as in production
        batch.append(
            {
                "integration_id": integration + 1,
                "device_id": integration % devices + 1,
                "trigger": "scheduled" if rng.random() < 0.9 else "manual",
                "status": rng.choice(outcomes),
                "full": False,
                "phase": "done",
                "records_read": rng.randrange(1_000, 2_000_000),
                "queued_at": end - timedelta(seconds=seconds + 30),
                "started_at": end - timedelta(seconds=seconds),
                "finished_at": end,
                "progress_done": 0,
                "progress_total": 0,
                "cancel_requested": False,
                "log_truncated": 0,
            }
        )
        if len(batch) == CHUNK:
            db.session.execute(insert(SyncRun), batch)
            batch = []
    for integration in range(min(40, integrations)):  # a few active now, one per integration
        status = "running" if integration % 2 else "queued"
        batch.append(
            {
                "integration_id": integration + 1,
                "device_id": integration % devices + 1,
                "trigger": "scheduled",
                "status": status,
                "full": False,
                "phase": status,
                "records_read": 500,
                "queued_at": now,
                "started_at": now if status == "running" else None,
                "progress_done": 0,
                "progress_total": 0,
                "cancel_requested": False,
                "log_truncated": 0,
            }
        )
    if batch:
        db.session.execute(insert(SyncRun), batch)
    db.session.commit()


def time_families(app) -> dict[str, tuple[float, float]]:
    """Wall and CPU milliseconds of the parts of a scrape, best of three."""
    from sisapp.extensions import db
    from sisapp.models.types import utcnow
    from sisapp.services import metrics, run_stats

    timeout = float(app.config["SYNC_JOB_TIMEOUT"])
    warm = run_stats.RunStats()
    with db.engine.connect() as conn:
        warm.totals(conn, utcnow(), timeout)
        totals = warm.totals(conn, utcnow(), timeout)
        lines = metrics.IntegrationLines()
        parts = {
            "every run's totals, read whole": lambda: run_stats.read_totals(conn, 0),
            "every run's totals, settled kept": lambda: warm.totals(conn, utcnow(), timeout),
            "last success age, integrations kept": lambda: metrics.last_success_text(
                conn, lines, totals, utcnow()
            ),
            "last success age, integrations read": lambda: metrics.last_success_text(
                conn, metrics.IntegrationLines(), totals, utcnow()
            ),
            "queue depth, workers, schedule fit (Redis)": lambda: list(
                metrics.redis_families(app.config)
            ),
        }
        figures = {}
        for name, part in parts.items():
            best = (float("inf"), float("inf"))
            for _ in range(3):
                started, started_cpu = time.perf_counter(), time.process_time()
                part()
                wall = (time.perf_counter() - started) * 1000
                best = min(best, (wall, (time.process_time() - started_cpu) * 1000))
            figures[name] = best
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (the script makes and drops its own database)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sisapp-bench-metrics-") as workdir:
        os.environ.setdefault("SISAPP_INSTANCE_PATH", workdir)
        databases = Databases(args.database_url, Path(workdir), "sisapp_bench_metrics")
        try:
            run(args, databases.template(), databases.kind)
        finally:
            databases.drop_all()


def run(args, url: str, kind: str) -> None:
    from sisapp import create_app, queue, scheduler
    from sisapp.extensions import db
    from sisapp.models import Region

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
            "REDIS_URL": args.redis_url,
            "RQ_QUEUE": f"sisapp-bench-metrics-{uuid.uuid4().hex[:8]}",
            "METRICS_TOKEN": TOKEN,
        }
    )
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        fill(args.integrations, args.runs, args.seed)
        print(
            f"{kind}: {args.integrations:,} integrations, {args.runs:,} runs "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        if kind == "PostgreSQL":  # as autovacuum leaves a table that has settled
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE"
                )
        started = time.perf_counter()
        scheduler.record_fits()  # what the scheduler does each catch-up; a scrape reads it
        print(f"the scheduler's record of each region's fit: {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(2):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 200, response.status_code
        times, cpu = [], []
        for _ in range(args.scrapes):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get("/metrics", headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200
        text = response.get_data(as_text=True)
        samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        print(f"response: {len(response.data) / 1024:.0f} KiB, {samples:,} samples")
        for name, (wall, cpu_ms) in time_families(app).items():
            print(f"  {name:<42} {wall:7.1f} ms (CPU here {cpu_ms:.1f} ms)")
        print(
            f"scrape of /metrics over {args.scrapes} scrapes: median {statistics.median(times):.1f} ms, "
            f"p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms; "
            f"CPU of this process median {statistics.median(cpu):.1f} ms"
        )
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        queue.redis_connection().delete(*(queue.schedule_fit_key(r.value) for r in Region))
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
