"""Speed and memory of the sync engine against the demo SIS (issue 5's targets).

    .venv/bin/python bench/sync.py --students 50000 [--database-url URL]

With a PostgreSQL URL the bench works in a new database of its own on that server
(``sisapp_bench_sync_<pid>``, dropped at the end): it creates and drops tables, which
must never happen to a database others use, such as the tests' ``test``.

Prints, for a generated district: ``--pairs`` (default 3) pairs of a download-and-parse
pass over the same pages a sync reads and a full sync on emptied tables, alternated
(A B A B ...) so that the machine's drift moves both sides of a pair alike, each pair
followed by a delta sync after 1% of records changed; then the median of the pairs'
ratios sync/download and delta/full with their spread (min-max), the machine's load
average at start and end, the CPU seconds each pass cost this process, the demo SIS
and a local PostgreSQL (see ``CpuClock``), and (on a smaller district, 100 ms per page) reading with
concurrent pages against one page at a time. Judge by the medians, not one pair.

The demo SIS runs in a child process so its district (hundreds of MB at this size)
and its serving threads are not counted in this process's memory or GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-not-real"


# --- the demo SIS in a child process ---------------------------------------------------


def _serve(conn, schools: int, students: int, seed: int, directory_path: str, parents) -> None:
    from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district

    district = generate_district(DistrictSpec(schools=schools, students=students, seed=seed))
    district.write_directory_csv(directory_path)
    server = DemoSISServer(district, client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    conn.send({"root_url": server.root_url, "token_url": server.token_url, "today": district.today})
    options = {"parents": parents}
    while True:
        command, arg = conn.recv()
        if command == "expected":
            conn.send(district.expected_counts(**options))
        elif command == "changes":
            conn.send(district.apply_changes(arg))
        elif command == "latency":
            server.faults.latency_ms = arg
            conn.send(True)
        elif command == "remove_students":  # a share of the students gone without tobedeleted
            with district.lock:
                students = [u for u in district.users if u["role"] == "student"]
                for user in students[: int(len(students) * arg)]:
                    district.users.remove(user)
                district.touch()
            conn.send(True)
        elif command == "stop":
            server.stop()
            conn.send(True)
            return


class DemoSIS:
    def __init__(self, schools, students, seed, directory_path, parents=None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve,
            args=(child, schools, students, seed, directory_path, parents),
            daemon=True,
        )
        self.process.start()
        self.info = self.conn.recv()

    def ask(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(10)


# --- measuring -----------------------------------------------------------------------------


class PeakRSS:
    """Samples this process's resident memory every 20 ms while a step runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def current() -> int:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self.peak = self.current()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


class CpuClock:
    """CPU seconds, from /proc, of this process, the demo SIS child and each local
    PostgreSQL process: where a pass's work went, besides its wall time.

    A sync writes through one database connection (its apply is one transaction), so
    on PostgreSQL the busiest server process's seconds are a floor under the full
    sync's wall time that no overlap of reading and applying can go below. On SQLite the
    database's work is in this process. A database on another machine is not seen.
    """

    def __init__(self, sis_pid: int) -> None:
        self.sis_pid = sis_pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _seconds(self, pid: int | str) -> tuple[str, float] | None:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                raw = handle.read()
        except OSError:  # gone, or not Linux
            return None
        name, _, rest = raw.rpartition(")")
        fields = rest.split()
        return name.partition("(")[2], (int(fields[11]) + int(fields[12])) / self.tick

    def read(self) -> dict:
        own, sis = self._seconds("self"), self._seconds(self.sis_pid)
        postgres = {}
        if os.path.isdir("/proc"):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                found = self._seconds(pid)
                if found and found[0] == "postgres":
                    postgres[pid] = found[1]
        return {"own": own and own[1], "sis": sis and sis[1], "postgres": postgres}

    @staticmethod
    def spent(before: dict, after: dict, wall: float) -> dict | None:
        if before["own"] is None or after["own"] is None:
            return None
        by_process = [
            after["postgres"][p] - before["postgres"].get(p, 0.0) for p in after["postgres"]
        ]
        spent = {
            "own": after["own"] - before["own"],
            "sis": (after["sis"] or 0.0) - (before["sis"] or 0.0),
            "postgres": sum(by_process),
            "busiest": max(by_process, default=0.0),
        }
        spent["cores"] = (spent["own"] + spent["sis"] + spent["postgres"]) / wall
        return spent

    @staticmethod
    def line(spent: dict | None) -> str:
        if spent is None:
            return "  cpu: not measured (no /proc)"
        text = f"  cpu: this process {spent['own']:.1f} s, demo SIS {spent['sis']:.1f} s"
        if spent["postgres"] >= 0.05:
            text += (f", PostgreSQL {spent['postgres']:.1f} s (its busiest process "
                     f"{spent['busiest']:.1f} s)")  # fmt: skip
        return text + f"; {spent['cores']:.2f} cores busy on average"


@contextmanager
def cpu_spent(clock: CpuClock, into: list):
    """Append to ``into`` what the block spent (``CpuClock.spent``)."""
    before, started = clock.read(), time.perf_counter()
    yield
    into.append(CpuClock.spent(before, clock.read(), time.perf_counter() - started))


def download_only(settings, schools: list[str]) -> tuple[float, int, int]:
    """Read and parse every page a full sync reads, keeping nothing; with the garbage
    collector set as a sync sets it (``sisapp.sync.collector``), so the ratio compares
    the sync's own work, not two collector settings."""
    from sisapp.oneroster import OneRosterClient
    from sisapp.sync.collector import fewer_collections

    started = time.perf_counter()
    with fewer_collections(), OneRosterClient(settings) as client:
        for _ in client.schools():
            pass
        for _ in client.academic_sessions():
            pass
        for _ in client.users():
            pass
        with client.school_rosters((school, None) for school in schools) as rosters:
            for roster in rosters:
                for _ in roster:
                    pass
        return time.perf_counter() - started, client.records_read, client.pages_read


def report(label: str, seconds: float, records: int, peak: int | None) -> None:
    rate = f"{records / seconds:>9,.0f} rec/s" if records else " " * 15
    memory = f"peak RSS {peak / 2**20:6.0f} MB" if peak else ""
    print(f"{label:<34} {seconds:8.1f} s  {records:>9,} records {rate}  {memory}", flush=True)


# --- the benchmark -------------------------------------------------------------------------


def setup_app(database_url: str):
    from sisapp import create_app
    from sisapp.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench",
            "ENCRYPTION_KEY": "o2q3H4Jj4jZt7cKkqk3yM1m3C6Vt9r0FZ2cQvJ9zqk0=",
            "ALLOW_PRIVATE_SIS_URLS": True,
        }
    )
    ctx = app.app_context()
    ctx.push()
    db.drop_all()
    db.create_all()
    return app


def load_directory(device_id: int, path: str) -> int:
    """Bulk insert (the ORM-based CSV import is not what is measured here)."""
    import csv

    from sqlalchemy import insert

    from sisapp.extensions import db
    from sisapp.models import DirectoryUser, UserKind

    with open(path, newline="", encoding="utf-8") as handle:
        rows = [
            {**row, "device_id": device_id, "kind": UserKind(row["kind"])}
            for row in csv.DictReader(handle)
        ]
    db.session.execute(insert(DirectoryUser), rows)
    db.session.commit()
    return len(rows)


def run_one(integration, full: bool, env):
    from sisapp.extensions import db
    from sisapp.models import SyncRun
    from sisapp.sync import run_sync

    record = SyncRun(integration_id=integration.id, device_id=integration.device_id, full=full)
    db.session.add(record)
    db.session.commit()
    started = time.perf_counter()
    with PeakRSS() as rss:
        run = run_sync(record.id, env)
    return run, time.perf_counter() - started, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=50000)
    parser.add_argument("--schools", type=int, default=None, help="default: students / 2000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None,
                        help="default: a new SQLite file; PostgreSQL: a new database on that server")  # fmt: skip
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--changes", type=float, default=0.01)
    parser.add_argument("--delta-margin", type=float, default=0,
                        help="seconds each delta reads before its point (SYNC_DELTA_MARGIN, 300 "
                             "in service). The pairs run a minute apart, so with the service's "
                             "margin each delta would read the earlier pairs' changes again "
                             "(1%%, 2%%, 3%% of the records); in service the syncs are days "
                             "apart and the margin re-reads only what changed in the minutes "
                             "before the last one")  # fmt: skip
    parser.add_argument("--pairs", type=int, default=3,
                        help="download/full-sync pairs, alternated, each on emptied tables")  # fmt: skip
    parser.add_argument("--latency-students", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--keep-files", action="store_true",
                        help="keep the work directory (SQLite database, directory CSV)")  # fmt: skip
    parser.add_argument("--parents", choices=["parent", "guardian", "relative"], default=None,
                        help="also sync parent data (default: the integration's default options)")  # fmt: skip
    args = parser.parse_args()
    schools = args.schools or max(3, args.students // 2000)
    workdir = Path(tempfile.mkdtemp(prefix="sisapp-bench-"))
    os.environ.setdefault("SISAPP_INSTANCE_PATH", str(workdir))

    print(f"Generating and serving {schools} schools, {args.students:,} students...", flush=True)
    sis = DemoSIS(schools, args.students, args.seed, str(workdir / "directory.csv"), args.parents)
    try:
        with own_database(args.database_url, workdir) as database_url:
            bench(args, sis, database_url, workdir)
    finally:
        sis.stop()
        if args.keep_files:
            print(f"Kept {workdir}")
        else:  # hundreds of MB at 50,000 students
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def own_database(url: str | None, workdir: Path, label: str = "sync"):
    """The database to bench in: a new SQLite file, the given URL, or for PostgreSQL a
    new database on the given server (``setup_app`` drops every table it finds).
    bench/schedule.py uses it too, with its own ``label``."""
    if url is None:
        yield f"sqlite:///{workdir / f'bench-{label}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    if server.get_backend_name() != "postgresql":
        yield url
        return
    server = server.set(drivername="postgresql+psycopg")
    name = f"sisapp_bench_{label}_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        from sisapp.extensions import db

        try:  # the bench's own connections first (the app context is still pushed)
            db.session.remove()
            db.engine.dispose()
        except RuntimeError:  # the app was never set up
            pass
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_integration(args, sis, box, workdir: Path):
    """Empty tables, the device's directory and an integration: each pair starts alike."""
    from sisapp.extensions import db
    from sisapp.models import Device, Region
    from sisapp.services.integrations import IntegrationData, create_integration

    db.session.remove()
    db.drop_all()
    db.create_all()
    device = Device(name="Bench District", region=Region.UK)
    db.session.add(device)
    db.session.commit()
    users = load_directory(device.id, str(workdir / "directory.csv"))
    data = IntegrationData(
        name="Bench", sis_vendor="other", endpoint_url=sis.info["root_url"],
        token_url=sis.info["token_url"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        sync_parents=bool(args.parents), relationship_type=args.parents,
    )  # fmt: skip
    return create_integration(device.id, data, box), users


def spread(values: list[float], digits: int = 2) -> str:
    """Median and range of ratios, as printed for every pair set."""
    return (
        f"{statistics.median(values):.{digits}f} median of {len(values)} pairs "
        f"(spread {min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def bench(args, sis, database_url: str, workdir: Path) -> None:
    """Download-only pass and full sync in alternation (A B A B ...), each full sync on
    emptied tables, so machine drift moves both sides of a pair alike; then a delta."""
    from sisapp.extensions import db
    from sisapp.keys import SecretBox
    from sisapp.oneroster import OneRosterClient
    from sisapp.services.integrations import connection_settings
    from sisapp.sync import SyncEnvironment

    app = setup_app(database_url)
    box = SecretBox(app.config["ENCRYPTION_KEY"])
    integration, users = fresh_integration(args, sis, box, workdir)
    print(f"Directory users: {users:,}")
    today: date = sis.info["today"]
    env = SyncEnvironment(box=box, allow_private=True, page_size=args.page_size,
                          concurrency=args.concurrency, today=today,
                          delta_margin=args.delta_margin)  # fmt: skip
    settings = connection_settings(integration, box, allow_private=True,
                                   page_size=args.page_size, concurrency=args.concurrency)  # fmt: skip
    print(f"Database: {db.engine.url.render_as_string(hide_password=True)}")
    print(f"Page size {args.page_size}, concurrency {args.concurrency}, parents {args.parents}, "
          f"delta margin {args.delta_margin:g} s")  # fmt: skip
    print(f"Machine at start: {load()}\n", flush=True)

    with OneRosterClient(settings) as client:
        school_ids = [s.sourced_id for s in client.schools()]
    # The first pass also makes the demo SIS serialise its pages (it caches them), work
    # a real SIS does not bill to the sync: it is a warm-up, not one of the pairs.
    cold, records, pages = download_only(settings, school_ids)
    print(f"  (warm-up pass, against the demo SIS's cold cache: {cold:.1f} s)")

    downloads, fulls, deltas, peaks = [], [], [], []
    clock, download_cpu, full_cpu = CpuClock(sis.process.pid), [], []
    for n in range(1, args.pairs + 1):
        if n > 1:
            integration, _ = fresh_integration(args, sis, box, workdir)
            # The last pair's changes emptied the demo SIS's page cache: warm it again,
            # or this pair's download pays for the serialising and its sync does not.
            cold, _, _ = download_only(settings, school_ids)
            print(f"  (warm-up pass after the changes: {cold:.1f} s)")
        with PeakRSS() as rss, cpu_spent(clock, download_cpu):
            seconds, records, pages = download_only(settings, school_ids)
        downloads.append(seconds)
        report(f"pair {n}: download+parse only", seconds, records, rss.peak)
        print(CpuClock.line(download_cpu[-1]))
        with cpu_spent(clock, full_cpu):
            run, full_seconds, peak = run_one(integration, True, env)
        fulls.append(full_seconds)
        peaks.append(peak)
        report(f"pair {n}: full sync", full_seconds, run.records_read, peak)
        print(CpuClock.line(full_cpu[-1]))
        check(run, sis.ask("expected"))
        summary = sis.ask("changes", args.changes)
        db.session.refresh(integration)
        run, delta_seconds, _ = run_one(integration, False, env)
        deltas.append(delta_seconds)
        report(f"pair {n}: delta sync after {args.changes:.0%} changed", delta_seconds,
               run.records_read, None)  # fmt: skip
        check(run, sis.ask("expected"))
        print(f"  changes: {summary}")
        print(f"  pair {n}: sync / download = {full_seconds / seconds:.2f}, "
              f"delta / full = {delta_seconds / full_seconds:.3f}", flush=True)  # fmt: skip

    ratios = [f / d for f, d in zip(fulls, downloads, strict=True)]
    delta_ratios = [x / f for x, f in zip(deltas, fulls, strict=True)]
    print()
    report(f"download+parse only ({pages} pages, median of {args.pairs})",
           statistics.median(downloads), records, None)  # fmt: skip
    report(f"full sync (median of {args.pairs})", statistics.median(fulls), records, max(peaks))
    print(f"  sync / download = {spread(ratios)}  (target <= 1.5; RSS < 400 MB)")
    print(f"  delta / full = {spread(delta_ratios, 3)}  (target <= 0.05)")
    cpu_floor(downloads, full_cpu, download_cpu)
    print(f"Machine at end: {load()}", flush=True)

    if not args.skip_latency:
        latency(args, workdir)


def cpu_floor(downloads: list[float], full_cpu: list, download_cpu: list) -> None:
    """What the CPU accounts say of the 1.5 x target: the sync's CPU beyond the
    download's, and on PostgreSQL the floor its one connection sets."""
    if None in full_cpu or None in download_cpu or not full_cpu:
        return
    extra = [
        (f["own"] + f["sis"] + f["postgres"]) - (d["own"] + d["sis"] + d["postgres"])
        for f, d in zip(full_cpu, download_cpu, strict=True)
    ]
    print(f"  CPU the full sync spends beyond the download's (all processes): "
          f"{statistics.median(extra):.1f} s median; the 1.5 x target leaves it "
          f"{0.5 * statistics.median(downloads):.1f} s of wall time")  # fmt: skip
    busiest = [f["busiest"] for f in full_cpu]
    if statistics.median(busiest) >= 0.05:
        floor = [b / d for b, d in zip(busiest, downloads, strict=True)]
        print(f"  busiest PostgreSQL process (the run's one connection) / download = "
              f"{spread(floor)}: a floor under sync / download")  # fmt: skip


def phases(run) -> str:
    """Read and apply time of a run, from its log."""
    from sqlalchemy import select

    from sisapp.extensions import db
    from sisapp.models import SyncLogLine

    applying = db.session.scalar(
        select(SyncLogLine.at).where(
            SyncLogLine.run_id == run.id, SyncLogLine.message.like("applying%")
        )
    )
    if applying is None:
        return ""
    read = (applying - run.started_at).total_seconds()
    return f"read {read:.1f} s + apply {(run.finished_at - applying).total_seconds():.1f} s"


def check(run, expected: dict) -> None:
    got = {key: getattr(run, key) for key in expected}
    status = "counts match the generator" if got == expected else f"COUNTS DIFFER: {got} != {expected}"  # fmt: skip
    print(f"  {run.status.value}: {status}; {phases(run)}")


def latency(args, workdir: Path) -> None:
    """Page latency: concurrent reads against one page at a time (download only)."""
    from sisapp.oneroster import ConnectionSettings

    students = args.latency_students
    schools = max(3, students // 2000)
    print(f"\nLatency: {args.latency_ms} ms per page, {students:,} students, page size 100")
    sis = DemoSIS(schools, students, args.seed + 1, str(workdir / "latency-directory.csv"))
    try:
        sis.ask("latency", args.latency_ms)
        results = {}
        for concurrency in (1, args.concurrency):
            settings = ConnectionSettings(
                endpoint_url=sis.info["root_url"], token_url=sis.info["token_url"],
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, allow_private=True,
                page_size=100, concurrency=concurrency,
            )  # fmt: skip
            ids = [f"sch-{n + 1:03d}" for n in range(schools)]
            seconds, records, pages = download_only(settings, ids)
            results[concurrency] = seconds
            report(f"concurrency {concurrency} ({pages} pages)", seconds, records, None)
        ratio = results[1] / results[args.concurrency]
        print(f"  serial / concurrent = {ratio:.1f}x  (target >= 4x)")
    finally:
        sis.stop()


if __name__ == "__main__":
    main()
