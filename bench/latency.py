"""Page latency: concurrent page reads against one at a time (issue 5's 4x target), and a
projection of read and sync times for the largest districts.

    .venv/bin/python bench/latency.py [--students 5000] [--latency-ms 100,1000]

For a generated district served by the demo SIS (in a child process, see bench/sync.py)
with a fixed delay on every data page, it times a read-and-parse pass over the pages a
full sync reads, once one page at a time and once with the sync's concurrency, and a
full sync (SQLite) with the same concurrency. A 0 ms pass measures the CPU cost.

Why the ratio is not simply the concurrency: the client reads the pages of one
collection concurrently (after a first page that gives the total), and the schools'
classes and enrollments with read-ahead (the next two schools' pages fill the request
slots the current school leaves idle), but schools, sessions and users one after
another; and parsing a page costs CPU time (one process, one GIL) that no concurrency
hides. The model printed beside each figure, and used for the projection, is per
collection of ``p`` pages, ``k`` seconds of CPU per page (measured at 0 ms) and latency
``L``: one at a time ``p * (L + k)``; concurrently
``L + k + max(ceil((p-1)/c) * L, (p-1) * k)``, with all schools' classes and
enrollments counted as one collection (read-ahead makes them one pool of requests).
Latency is the only cost that grows with a slow SIS, so the default district is small
(its 1 s pass reads 56 pages one at a time, about a minute); pass
``--students 50000 --latency-ms 100`` for issue 5's reference district.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    add_integration,
    new_device,
    terminate_on_sigterm,
)
from bench.sync import DemoSIS, load_directory, phases, run_one, setup_app  # noqa: E402

PER_SCHOOL = ("classes", "enrollments")


@dataclass
class Collection:
    name: str
    records: int
    pages: int


@dataclass
class ReadPass:
    seconds: float
    collections: list[Collection] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return sum(c.pages for c in self.collections)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.collections)


def pooled(collections: list[Collection], concurrency: int) -> list[Collection]:
    """The collections as the client waits for them: with concurrency, the schools'
    classes and enrollments are read ahead as one pool of requests."""
    if concurrency <= 1:
        return collections
    own = [x for x in collections if x.name not in PER_SCHOOL]
    rosters = [x for x in collections if x.name in PER_SCHOOL]
    if not rosters:
        return own
    pool = Collection(
        "school rosters", sum(x.records for x in rosters), sum(x.pages for x in rosters)
    )
    return [*own, pool]


def round_trips(collections: list[Collection], concurrency: int) -> int:
    """Page waits that follow one another (+1: the client's version discovery)."""
    return 1 + sum(
        x.pages if concurrency <= 1 or x.pages <= 1 else 1 + math.ceil((x.pages - 1) / concurrency)
        for x in pooled(collections, concurrency)
    )


def model(
    collections: list[Collection], latency: float, concurrency: int, cpu_per_record: float
) -> float:
    """Seconds to read ``collections`` (see the module docstring)."""
    total = latency  # discovery
    for x in pooled(collections, concurrency):
        k = x.records * cpu_per_record / max(1, x.pages)
        if concurrency <= 1 or x.pages <= 1:
            total += x.pages * (latency + k)
        else:
            rest = x.pages - 1
            total += latency + k + max(math.ceil(rest / concurrency) * latency, rest * k)
    return total


def read_pass(settings, marks: dict | None = None) -> ReadPass:
    """Read and parse every page a full sync reads, as the sync reads them, counting
    records (and so pages) per collection; ``marks`` gets the time and pages read when
    the school rosters start."""
    from sisapp.oneroster import Enrollment, OneRosterClient

    started = time.perf_counter()
    result = ReadPass(0.0)
    size = settings.page_size

    def add(name: str, count: int) -> None:
        result.collections.append(Collection(name, count, max(1, math.ceil(count / size))))

    with OneRosterClient(settings) as client:
        schools = list(client.schools())
        add("schools", len(schools))
        add("academicSessions", sum(1 for _ in client.academic_sessions()))
        add("users", sum(1 for _ in client.users()))
        if marks is not None:
            marks.update(seconds=time.perf_counter() - started, pages=client.pages_read)
        with client.school_rosters((school.sourced_id, None) for school in schools) as rosters:
            for roster in rosters:
                enrollments = classes = 0
                for record in roster:
                    if type(record) is Enrollment:
                        enrollments += 1
                    else:
                        classes += 1
                add("classes", classes)
                add("enrollments", enrollments)
    result.seconds = time.perf_counter() - started
    return result


def settings_for(sis, page_size: int, concurrency: int):
    from sisapp.oneroster import ConnectionSettings

    return ConnectionSettings(
        endpoint_url=sis.info["root_url"], token_url=sis.info["token_url"],
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, allow_private=True,
        page_size=page_size, concurrency=concurrency,
    )  # fmt: skip


def line(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<36} {seconds:8.1f} s  {extra}", flush=True)


# --- the benchmark ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--schools", type=int, default=None, help="default: students / 2000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=1000, help="the sync's default")
    parser.add_argument("--concurrency", type=int, default=8, help="the sync's default")
    parser.add_argument("--latency-ms", default="100,1000", help="comma-separated")
    parser.add_argument("--no-sync", action="store_true", help="time reads only")
    parser.add_argument("--project", default="200000,500000",
                        help="district sizes (students) to project, comma-separated")  # fmt: skip
    parser.add_argument("--school-size", default="2000,700",
                        help="students per school in the projection, comma-separated")  # fmt: skip
    parser.add_argument("--cap-ms", type=int, default=1000,
                        help="slow SIS at the cap: latency per page (0 skips the section)")  # fmt: skip
    parser.add_argument("--cap-page-size", type=int, default=100, help="slow SIS: page size")
    parser.add_argument("--cap-target", type=int, default=50000,
                        help="slow SIS: district (students) the read time is projected to")  # fmt: skip
    args = parser.parse_args()
    terminate_on_sigterm()
    latencies = [int(v) for v in args.latency_ms.split(",") if v.strip()]
    schools = args.schools or max(3, args.students // 2000)
    workdir = Path(tempfile.mkdtemp(prefix="sisapp-bench-latency-"))
    os.environ.setdefault("SISAPP_INSTANCE_PATH", str(workdir))

    print(f"Generating and serving {schools} schools, {args.students:,} students...", flush=True)
    sis = DemoSIS(schools, args.students, args.seed, str(workdir / "directory.csv"))
    try:
        bench(args, sis, schools, latencies, workdir)
    finally:
        sis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def bench(args, sis, schools: int, latencies: list[int], workdir: Path) -> None:
    from sisapp.keys import SecretBox
    from sisapp.sync import SyncEnvironment

    c = args.concurrency
    print(f"Page size {args.page_size}, concurrency {c}; demo SIS in a child process\n")
    app = None if args.no_sync else setup_app(f"sqlite:///{workdir / 'latency.db'}")
    box = SecretBox(app.config["ENCRYPTION_KEY"]) if app else None
    env = SyncEnvironment(box=box, allow_private=True, page_size=args.page_size,
                          concurrency=c, today=sis.info["today"]) if app else None  # fmt: skip

    def full_sync(label: str):
        device = new_device(f"Bench {label}")
        load_directory(device.id, str(workdir / "directory.csv"))
        integration = add_integration(device.id, sis.info, box)
        run, seconds, _peak = run_one(integration, True, env)
        line(f"full sync, concurrency {c}", seconds, f"{run.status.value}; {phases(run)}")
        return seconds

    sis.ask("latency", 0)
    # The CPU cost is the floor of every figure: take the better of two passes (the
    # first also warms the demo SIS's serialised pages).
    base = min(
        (read_pass(settings_for(sis, args.page_size, c)) for _ in range(2)),
        key=lambda result: result.seconds,
    )
    users = next(x.records for x in base.collections if x.name == "users")
    print(f"District: {users:,} users, {base.records:,} records in {base.pages} pages, "
          f"{len(base.collections)} collections ({schools} schools x {len(PER_SCHOOL)} + 3)")  # fmt: skip
    print("\n0 ms per page (CPU cost)")
    line(f"read, concurrency {c}", base.seconds, f"{base.records / base.seconds:,.0f} rec/s")
    sync_base = full_sync("0 ms") if app else None

    cpu = base.seconds / base.records  # CPU seconds per record read
    for ms in latencies:
        sis.ask("latency", ms)
        latency = ms / 1000
        print(f"\n{ms} ms per page")
        timed = {}
        for label, concurrency in (("one page at a time", 1), (f"concurrency {c}", c)):
            result = read_pass(settings_for(sis, args.page_size, concurrency))
            trips = round_trips(result.collections, concurrency)
            predicted = model(result.collections, latency, concurrency, cpu)
            line(f"read, {label}", result.seconds,
                 f"{trips} page waits in a row; model {predicted:.1f} s")  # fmt: skip
            timed[concurrency] = result.seconds
        ratio = timed[1] / timed[c]
        ceiling = (latency + cpu * args.page_size) / (cpu * args.page_size)
        print(f"  serial / concurrent = {ratio:.1f}x  (target >= 4x at 50,000 students, 100 ms; "
              f"CPU-bound ceiling (L+k)/k = {ceiling:.1f}x)", flush=True)  # fmt: skip
        if app:
            seconds = full_sync(f"{ms} ms")
            print(f"  sync / concurrent read = {seconds / timed[c]:.2f}")

    sis.ask("latency", 0)
    project(args, base, schools, latencies, sync_base)
    if args.cap_ms:
        at_the_cap(args, sis)


# --- projection ---------------------------------------------------------------------------


def district_collections(
    base: ReadPass, students: int, measured_students: int, schools: int, page_size: int
) -> list[Collection]:
    """The collections a district of ``students`` in ``schools`` schools would have,
    from the measured district's records per student."""

    def per_student(name: str) -> float:
        return sum(x.records for x in base.collections if x.name == name) / measured_students

    def sized(name: str, records: float) -> Collection:
        return Collection(name, round(records), max(1, math.ceil(records / page_size)))

    result = [sized("schools", schools), sized("academicSessions", 6)]
    result.append(sized("users", per_student("users") * students))
    for name in PER_SCHOOL:
        result += [sized(name, per_student(name) * students / schools)] * schools
    return result


def project(args, base: ReadPass, schools: int, latencies: list[int], sync_base) -> None:
    c, size = args.concurrency, args.page_size
    cpu = base.seconds / base.records
    extra = (sync_base - base.seconds) / base.records if sync_base else None
    shown = latencies or [100]
    print(f"\nProjection (page size {size}; the model above with the CPU measured at 0 ms; "
          f"'pipelined' = every page of the read in one pool of {c}, for comparison)")  # fmt: skip
    head = f"  {'students':>9} {'schools':>7} {'pages':>6} {'waits c=1':>9} {f'c={c}':>5}"
    for ms in shown:
        head += f" | {ms} ms: {'serial':>7} {f'c={c}':>7} {'ratio':>5} {'pipelined':>9}"
        head += f" {'sync':>7}" if extra is not None else ""
    print(head)
    for students in [int(v) for v in args.project.split(",") if v.strip()]:
        for school_size in [int(v) for v in args.school_size.split(",") if v.strip()]:
            n = max(1, round(students / school_size))
            parts = district_collections(base, students, args.students, n, size)
            records = sum(x.records for x in parts)
            pages = sum(x.pages for x in parts)
            one = [Collection("all", records, pages)]
            row = (f"  {students:>9,} {n:>7} {pages:>6} {round_trips(parts, 1):>9} "
                   f"{round_trips(parts, c):>5}")  # fmt: skip
            for ms in shown:
                serial = model(parts, ms / 1000, 1, cpu)
                concurrent = model(parts, ms / 1000, c, cpu)
                row += (f" | {'':>{len(str(ms)) + 4}}{fmt(serial):>7} {fmt(concurrent):>7} "
                        f"{serial / concurrent:>4.1f}x {fmt(model(one, ms / 1000, c, cpu)):>9}")  # fmt: skip
                if extra is not None:
                    row += f" {fmt(concurrent + records * extra):>7}"
            print(row, flush=True)
    print(f"  (from {args.students:,} students in {schools} schools: CPU {cpu * 1e6:.0f} us per "
          "record read" + (f", {extra * 1e6:.0f} us per record synced on top" if extra else "")
          + "; 'sync' adds that to the concurrent read)")  # fmt: skip


# --- slow SIS at the cap -----------------------------------------------------------------


def at_the_cap(args, sis) -> None:
    """Issue 19's target 3: one read against a slow SIS with small pages, how close it
    keeps the cap busy, and the read time projected to ``--cap-target`` students."""
    import sisapp.oneroster.client as client_module

    c, latency, size = args.concurrency, args.cap_ms / 1000, args.cap_page_size
    print(f"\nSlow SIS at the cap: {args.cap_ms} ms per page, page size {size}, cap {c}")
    clients = []
    original = client_module.OneRosterClient.__init__

    def keep(self, *a, **k):  # the bench reads the client's in-flight accounting
        original(self, *a, **k)
        clients.append(self)

    sis.ask("latency", args.cap_ms)
    client_module.OneRosterClient.__init__ = keep
    try:
        marks = {}
        result = read_pass(settings_for(sis, size, c), marks)
    finally:
        client_module.OneRosterClient.__init__ = original
        sis.ask("latency", 0)
    limit = clients[-1].in_flight
    pages, seconds = result.pages, result.seconds
    effective = pages * latency / seconds
    rosters_pages = pages - marks["pages"]
    rosters_seconds = seconds - marks["seconds"]
    steady = rosters_pages * latency / rosters_seconds if rosters_seconds > 0 else c
    line(f"read, cap {c}", seconds,
         f"{pages} pages; effective concurrency {effective:.2f} of {c} ({effective / c:.0%}; "
         f"target >= 90%); mean in flight {limit.busy_seconds / seconds:.2f}, "
         f"at most {limit.peak} at once, {limit.decreases} back-offs")  # fmt: skip
    line("  of which the school rosters", rosters_seconds,
         f"{rosters_pages} pages; effective concurrency {steady:.2f}")  # fmt: skip
    fixed = seconds - pages * latency / steady
    scale = args.cap_target / args.students
    target_pages = round(pages * scale)
    projected = fixed + target_pages * latency / steady
    print(f"  projected to {args.cap_target:,} students: {target_pages:,} pages in "
          f"{projected / 60:.1f} min (target <= 11 min), effective concurrency "
          f"{target_pages * latency / projected:.2f} of {c}", flush=True)  # fmt: skip
    print(
        "  (how: pages scale with students; the time is the measured read's fixed part "
        f"({fixed:.1f} s: discovery, the one-page collections, heads and tails, i.e. the "
        "read's time less its pages at the rosters' rate) plus the projected pages at "
        "the effective concurrency of the school rosters, the longest steady phase)"
    )


def fmt(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


if __name__ == "__main__":
    main()
