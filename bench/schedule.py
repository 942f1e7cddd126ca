"""A scheduling day at scale (issue 19's target 4): the planner and the SIS Integration page.

    .venv/bin/python bench/schedule.py [--integrations 10000] [--workers 250] [--database-url URL]

Fills a database (a new SQLite file, or a database of its own on a PostgreSQL server,
dropped at the end) with ``--integrations`` integrations, one per device, spread over the
three regions, each with five past runs: most districts sync in minutes, a few take up to
four hours (``durations``). Then prints:

- the time to plan the day from the database, as the dispatch and the pages do
  (``planner.day_plan`` with a cold cache: the history query and the packing), and the
  packing alone;
- whether the plan fits each region's 24-hour window at ``--workers`` workers (how far
  it runs past), the fewest workers that fit, and the most syncs planned at once;
- the SIS Integration page of one device with ``--page-integrations`` integrations,
  requested ``--requests`` times through the Flask test client after a warm-up: p50
  and p95 (target < 100 ms p95).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sync import own_database  # noqa: E402

PASSWORD = "bench-password-not-real"
# Tuesday 10 March 2026: Perth's 6 PM (10:00 UTC) opens the day.
DAY = datetime(2026, 3, 10, 10, tzinfo=UTC)


def durations(rng: random.Random) -> float:
    """One district's typical sync, seconds: 80% small (3-30 min), 15% mid-sized
    (30-90 min), 5% large (1.5-4 h)."""
    kind = rng.random()
    low, high = (3, 30) if kind < 0.80 else (30, 90) if kind < 0.95 else (90, 240)
    return 60 * math.exp(rng.uniform(math.log(low), math.log(high)))


def fill(count: int, page_count: int, seed: int) -> int:
    """Devices, integrations and five runs each; returns the page device's id."""
    from flask import current_app
    from sqlalchemy import insert, select

    from sisapp.extensions import db
    from sisapp.keys import SecretBox
    from sisapp.models import (
        AdminUser,
        Device,
        OneRosterIntegration,
        Region,
        SisVendor,
        SyncRun,
        SyncStatus,
        SyncTrigger,
    )

    rng = random.Random(seed)
    regions = list(Region)
    created = DAY - timedelta(days=60)
    devices = [{"name": f"District {n:05d}", "region": regions[n % 3], "created_at": created}
               for n in range(count - page_count + 1)]  # fmt: skip
    db.session.execute(insert(Device), devices)
    ids = db.session.scalars(select(Device.id).order_by(Device.id)).all()
    page_device = ids[0]
    secret = SecretBox(current_app.config["ENCRYPTION_KEY"]).encrypt("not-a-real-secret")
    owners = [page_device] * page_count + ids[1:]
    rows = [
        {"device_id": owner, "name": f"SIS {n}", "sis_vendor": SisVendor.OTHER,
         "endpoint_url": "https://sis.example.org/ims/oneroster/v1p1", "client_id": "bench",
         "client_secret_encrypted": secret, "schools": [], "excluded_school_ids": [],
         "created_at": created, "updated_at": created}
        for n, owner in enumerate(owners)
    ]  # fmt: skip
    db.session.execute(insert(OneRosterIntegration), rows)
    integrations = db.session.execute(
        select(OneRosterIntegration.id, OneRosterIntegration.device_id)
    ).all()
    runs = []
    for integration_id, device_id in integrations:
        typical = durations(rng)
        for week in range(1, 6):
            started = DAY - timedelta(days=7 * week) + timedelta(hours=rng.uniform(0, 20))
            seconds = typical * rng.uniform(0.9, 1.1)
            runs.append({"integration_id": integration_id, "device_id": device_id,
                         "trigger": SyncTrigger.SCHEDULED, "status": SyncStatus.SUCCEEDED,
                         "full": False, "queued_at": started, "started_at": started,
                         "finished_at": started + timedelta(seconds=seconds)})  # fmt: skip
    db.session.execute(insert(SyncRun), runs)
    admin = AdminUser(email="admin@bench.example", device_id=page_device)
    admin.set_password(PASSWORD)
    db.session.add(admin)
    db.session.commit()
    return page_device


def plan_day(workers: int) -> None:
    from sisapp.models import Region
    from sisapp.schedule import planner, regional

    settings = planner.PlanSettings(capacity=workers, default_duration=timedelta(minutes=30))
    planner._cache.clear()
    started = time.perf_counter()
    plan = planner.day_plan(Region.AU, DAY, settings)
    cold = time.perf_counter() - started
    windows = regional.day_windows(Region.AU, DAY)
    items = planner.load_items(min(windows.values()), settings.default_duration, windows)
    started = time.perf_counter()
    planned = planner.plan(items, windows, workers)
    packing = time.perf_counter() - started
    print(f"Plan of the day, {len(plan):,} syncs, from the database (cold cache): "
          f"{cold * 1000:.0f} ms (target < 1 s); packing alone {packing * 1000:.0f} ms")  # fmt: skip
    work = sum((i.duration for i in items), timedelta(0))
    print(f"  work to do: {work.total_seconds() / 3600:,.0f} worker-hours")
    late = planner.overflows(planned, windows)
    for region in Region:
        verdict = f"runs {late[region]} past it" if late[region] else "fits"
        print(f"  {region.value:>5}: window {windows[region]:%H:%M} UTC + 24 h; at {workers} "
              f"workers the plan {verdict}")  # fmt: skip
    started = time.perf_counter()
    needed = planner.fewest_workers(items, windows)
    search = time.perf_counter() - started
    print(f"  fewest workers that fit every region's window: {needed} "
          f"(found in {search:.1f} s)")  # fmt: skip
    peak = planner.max_concurrency(planned)
    ok = "never more than workers" if peak <= workers else "MORE THAN WORKERS"
    print(f"  most syncs planned at once: {peak} of {workers} workers ({ok})", flush=True)


def page(app, requests: int) -> None:
    import re

    client = app.test_client()
    login = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    answer = client.post("/auth/login", data={"email": "admin@bench.example",
                                             "password": PASSWORD, "csrf_token": token})  # fmt: skip
    assert answer.status_code == 302, answer.status_code
    times, cpu = [], []
    for n in range(requests + 5):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get("/sis-integration/")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        if n >= 5:  # the first requests warm the plan cache and the templates
            times.append(elapsed)
            cpu.append(time.thread_time() - started_cpu)

    def p95(values: list[float]) -> float:
        return sorted(values)[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]

    print(f"SIS Integration page, {requests} requests: p50 {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {p95(times) * 1000:.1f} ms (target < 100 ms p95); load average {os.getloadavg()[0]:.2f}\n"
          f"  its CPU time (what a busy machine does not inflate as much): p50 "
          f"{statistics.median(cpu) * 1000:.1f} ms, p95 {p95(cpu) * 1000:.1f} ms", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--integrations", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=250)
    parser.add_argument("--page-integrations", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None,
                        help="default: a new SQLite file; PostgreSQL: a new database on that server")  # fmt: skip
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sisapp-bench-schedule-"))
    os.environ.setdefault("SISAPP_INSTANCE_PATH", str(workdir))
    try:
        with own_database(args.database_url, workdir, label="schedule") as url:
            from sisapp import create_app
            from sisapp.extensions import db

            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                              "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
                              "SYNC_WORKER_CAPACITY": args.workers})  # fmt: skip
            with app.app_context():
                db.create_all()
                started = time.perf_counter()
                fill(args.integrations, args.page_integrations, args.seed)
                if db.engine.dialect.name == "postgresql":
                    # A database in service has statistics (autovacuum's ANALYZE): without
                    # them the planner scans sync_run for the page's batched look-ups.
                    from sqlalchemy import text

                    db.session.execute(text("ANALYZE"))
                    db.session.commit()
                print(f"{args.integrations:,} integrations with 5 runs each in "
                      f"{db.engine.url.get_backend_name()} ({time.perf_counter() - started:.0f} s to fill); "
                      f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
                plan_day(args.workers)
                page(app, args.requests)
                db.session.remove()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
