"""Many admins polling the live status fragment while a sync runs (issue 9's web target:
the sync slows by less than 10%).

    .venv/bin/python bench/web.py [--students 50000] [--pollers 200] [--database-url URL]

Everything is real and on loopback: the app under gunicorn (the Procfile's 2 workers x
8 threads, keep-alive 5 s), an RQ worker (`flask --app app worker --burst`) running the sync engine, Redis
(REDIS_URL, default 127.0.0.1:6379, on a queue of the script's own), the demo SIS in a
child process (bench/sync.py) and SQLite, or PostgreSQL when --database-url names a
server (the script creates databases of its own there and drops them at the end; it
never writes to the database named in the URL).

The same full sync runs several times from the same starting database (a copy of a
prepared template: device, admins, directory, integration): alone, and with N pollers
(N keep-alive connections driven by one thread of this process, each with the session
cookie of one of --admins signed-in admins) fetching /sis-integration/<id>/runs/<run_id>/status --interval seconds after
the previous answer, as htmx's `load delay:2s` does, and stopping when the fragment stops
asking to be polled (the run ended). With --control, also with N pollers of a static
file (the HTTP load without the fragment's queries). Runs alternate alone/polled,
polled/alone so drift on a shared machine cancels. The sync's duration is the run row's
started_at..finished_at (the worker's own clock), so worker start-up is not in it.

Beside each duration the script prints who used the CPU meanwhile (worker, gunicorn,
pollers, demo SIS, everything else on the machine): on a 2-core machine shared with
other work, a slowdown is CPU contention unless the database says otherwise.
Nothing outlives the script: each child runs in a process group of its own and is
stopped (SIGTERM, then SIGKILL of its whole tree) in `finally` blocks, also on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench._common import (  # noqa: E402
    Children,
    Databases,
    add_integration,
    free_port,
    machine_busy,
    new_device,
    own_cpu,
    percentile,
    reaped_children_cpu,
    terminate_on_sigterm,
    tree_cpu,
    wait_until,
)
from bench._polling import PASSWORD, Pollers, sign_in  # noqa: E402
from bench.latency import read_pass, settings_for  # noqa: E402
from bench.sync import DemoSIS, load_directory, phases, setup_app  # noqa: E402

HEADER_CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')
RUN_ID = re.compile(r'data-run-id="(\d+)"')
STATIC_PATH = "/static/app.js"


# --- the prepared template ------------------------------------------------------------------


@dataclass
class Prepared:
    integration_id: int
    admins: list[str]
    secret_key: str
    encryption_key: str


def prepare(url: str, sis, directory: Path, admins: int) -> Prepared:
    """Device, admins, directory and an integration against the demo SIS, never synced."""
    from sqlalchemy import text

    from sisapp.extensions import db
    from sisapp.keys import SecretBox
    from sisapp.services.accounts import add_admin

    app = setup_app(url)
    device = new_device("Bench Web District")
    load_directory(device.id, str(directory))
    integration = add_integration(device.id, sis.info, SecretBox(app.config["ENCRYPTION_KEY"]))
    emails = [f"admin{n}@bench.example" for n in range(admins)]
    for email in emails:
        add_admin(email, PASSWORD, device)
    prepared = Prepared(
        integration.id, emails, app.config["SECRET_KEY"], app.config["ENCRYPTION_KEY"]
    )
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    db.session.remove()
    db.engine.dispose()  # copies need a template nobody is connected to
    return prepared


def run_row(url: str, run_id: int):
    """The finished run as the worker recorded it, with its read/apply split."""
    from sisapp import create_app
    from sisapp.extensions import db
    from sisapp.models import SyncRun

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        run = db.session.get(SyncRun, run_id)
        result = {
            "status": run.status.value,
            "seconds": (run.finished_at - run.started_at).total_seconds()
            if run.finished_at and run.started_at
            else float("nan"),
            "records": run.records_read or 0,
            "phases": phases(run),
            "error": f"{run.error_code} {run.error_message}" if run.error_code else "",
        }
        db.session.remove()
        db.engine.dispose()
    return result


# --- one run ----------------------------------------------------------------------------------


KINDS = {
    "alone": "alone",
    "fragment": "with {} pollers",
    "static": "with {} static pollers",
}


@dataclass
class Result:
    n: int
    kind: str
    run: dict
    cpu: dict
    busy: float
    fragments: str = ""
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    reconnects: int = 0
    note: str = ""


def run_once(n: int, kind: str, args, context) -> Result:
    """One full sync from a fresh copy of the template; ``kind`` says who polls meanwhile.

    "static" pollers fetch a static file instead of the fragment, at the same rate, until
    the sync ends: the HTTP load without the fragment's queries (a control).
    """
    url = context["databases"].copy(n)
    env = {**context["env"], "SISAPP_DATABASE_URL": url}
    children: Children = context["children"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # --pin: the sync on core 0, everything serving or polling on core 1.
    web_cpu, worker_cpu = (["taskset", "-c", "1"], ["taskset", "-c", "0"]) if args.pin else ([], [])
    web = children.start(
        "gunicorn",
        [*web_cpu, sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.web_workers), "--threads", str(args.web_threads),
         "--keep-alive", str(args.keep_alive), "--graceful-timeout", "3", "--timeout", "60"],
        env,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(base, web), 60, what=f"gunicorn on {base}")
        sessions = [sign_in(base, email) for email in context["prepared"].admins]
        index = sessions[0].get(f"{base}/sis-integration/", timeout=30)
        csrf = HEADER_CSRF.search(index.text).group(1)
        integration_id = context["prepared"].integration_id
        sis_pid = context["sis"].process.pid
        before = (reaped_children_cpu(), tree_cpu(web.process.pid), own_cpu(),
                  tree_cpu(sis_pid), machine_busy(), time.monotonic())  # fmt: skip
        answer = sessions[0].post(
            f"{base}/sis-integration/{integration_id}/sync",
            headers={"X-CSRFToken": csrf, "HX-Request": "true"},
            timeout=30,
        )
        run_id = int(RUN_ID.search(answer.text).group(1))
        status_url = f"{base}/sis-integration/{integration_id}/runs/{run_id}/status"
        polling = None
        if kind != "alone":
            cookies = ["; ".join(f"{c.name}={c.value}" for c in s.cookies) for s in sessions]
            url_ = status_url if kind == "fragment" else f"{base}{STATIC_PATH}"
            polling = Pollers(
                url_, cookies, args.pollers, args.interval, args.seconds, args.max_requests,
                until_done=kind == "fragment",
            )  # fmt: skip
            polling.start()
        worker = children.start(
            "worker",
            [*worker_cpu, sys.executable, "-m", "flask", "--app", "app", "worker", "--burst"],
            env,
        )
        try:
            worker.process.wait(args.timeout)
        except Exception:
            children.stop(worker)
            raise RuntimeError(f"the sync did not end within {args.timeout} s") from None
        after = (reaped_children_cpu(), tree_cpu(web.process.pid), own_cpu(),
                 tree_cpu(sis_pid), machine_busy(), time.monotonic())  # fmt: skip
        if worker.process.returncode != 0:
            raise RuntimeError(f"the worker exited {worker.process.returncode}:\n{worker.output()}")
        if polling:
            polling.wait(args.interval + 10 if polling.until_done else 0)
    finally:
        children.stop(web)
    delta = [b - a for a, b in zip(before, after, strict=True)]
    cpu = {"worker": delta[0], "web": delta[1], "pollers": delta[2], "demo SIS": delta[3]}
    cpu["rest of machine"] = max(0.0, delta[4] - sum(cpu.values()))
    result = Result(n, kind, run_row(url, run_id), cpu, delta[4] / delta[5])
    context["databases"].discard(url)
    if polling:
        result.fragments = polling.summary()
        result.latencies = polling.latencies
        result.requests = len(polling.latencies) + polling.failures
        result.errors = sum(polling.errors.values())
        result.reconnects = polling.reconnects
        if polling.budget_spent:
            result.note = f"request budget ({args.max_requests:,}) spent before the sync ended"
        elif polling.ended - polling.started >= args.seconds:
            result.note = f"pollers stopped at --seconds {args.seconds:g} before the sync ended"
    return result


def _answers(base: str, web) -> bool:
    if web.process.poll() is not None:
        raise RuntimeError(f"gunicorn exited {web.process.returncode}:\n{web.output()}")
    try:
        return requests.get(f"{base}/auth/login", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def show(result: Result, pollers: int, cores: int) -> None:
    run = result.run
    label = KINDS[result.kind].format(pollers)
    print(f"run {result.n}: sync {label:<24} {run['seconds']:7.1f} s  {run['status']}, "
          f"{run['records']:,} records; {run['phases']} {run['error']}")  # fmt: skip
    cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in result.cpu.items())
    print(f"       CPU s: {cpu}  (machine {result.busy / cores:.0%} busy)")
    if result.fragments:
        print(f"       {result.fragments}; {_web_ms(result):.2f} ms of web CPU per request")
    if result.note:
        print(f"       NOTE: {result.note}")
    sys.stdout.flush()


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=50000)
    parser.add_argument("--schools", type=int, default=None, help="default: students / 2000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--admins", type=int, default=10, help="pollers share their sessions")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--seconds", type=float, default=600, help="polling limit per run")
    parser.add_argument("--max-requests", type=int, default=500_000, help="per run")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs (alone, polled)")
    parser.add_argument("--pin", action="store_true",
                        help="sync worker on core 0; web, pollers and demo SIS on core 1")  # fmt: skip
    parser.add_argument("--control", action="store_true",
                        help="also runs with pollers of a static file (no fragment queries)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="limit for one sync")
    parser.add_argument("--web-workers", type=int, default=2, help="as in the Procfile")
    parser.add_argument("--web-threads", type=int, default=8, help="as in the Procfile")
    parser.add_argument("--keep-alive", type=int, default=5,
                        help="as in the Procfile (gunicorn's own 2 s races a 2 s poll: docs/performance.md)")  # fmt: skip
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server URL (default: SQLite files)")  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")  # fmt: skip
    args = parser.parse_args()
    terminate_on_sigterm()
    schools = args.schools or max(3, args.students // 2000)
    workdir = Path(tempfile.mkdtemp(prefix="sisapp-bench-web-"))
    os.environ["SISAPP_INSTANCE_PATH"] = str(workdir)
    queue = f"sisapp-bench-web-{uuid.uuid4().hex[:8]}"

    print(f"Generating and serving {schools} schools, {args.students:,} students...", flush=True)
    sis = DemoSIS(schools, args.students, args.seed, str(workdir / "directory.csv"))
    databases = Databases(args.database_url, workdir, "sisapp_bench_web")
    try:
        with Children(workdir) as children:
            bench(args, sis, databases, children, queue, workdir)
    finally:
        databases.drop_all()
        _clean_redis(args.redis_url, queue)
        sis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def bench(args, sis, databases: Databases, children: Children, queue: str, workdir: Path):
    prepared = prepare(databases.template(), sis, workdir / "directory.csv", args.admins)
    # The demo SIS serialises pages lazily: warm it so the first run is not the slowest.
    read_pass(settings_for(sis, 1000, 8))
    env = {
        **os.environ,
        "SISAPP_INSTANCE_PATH": str(workdir),
        "SISAPP_SECRET_KEY": prepared.secret_key,
        "SISAPP_ENCRYPTION_KEY": prepared.encryption_key,
        "SISAPP_ALLOW_PRIVATE_SIS_URLS": "1",
        "SISAPP_RQ_QUEUE": queue,
        "REDIS_URL": args.redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    cores = os.cpu_count() or 1
    if args.pin:
        os.sched_setaffinity(0, {1})  # this process: its poller threads inherit it
        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(sis.process.pid)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"Database: {databases.kind}; gunicorn {args.web_workers} workers x "
          f"{args.web_threads} threads; {args.pollers} pollers of {args.admins} admins every "
          f"{args.interval:g} s; {cores} cores\n", flush=True)  # fmt: skip
    context = {"databases": databases, "env": env, "children": children, "prepared": prepared,
               "sis": sis}  # fmt: skip
    kinds = ["alone", "fragment", *(["static"] if args.control else [])]
    order = []
    for pair in range(args.repeat):
        order += kinds if pair % 2 == 0 else kinds[::-1]
    results = []
    for n, kind in enumerate(order, 1):
        result = run_once(n, kind, args, context)
        show(result, args.pollers, cores)
        results.append(result)
    summarise(results, args.pollers, len(kinds))


def _web_ms(result: Result) -> float:
    """gunicorn's CPU per answered request: what each poll costs the machine the sync runs on."""
    return 1000 * result.cpu["web"] / result.requests if result.requests else float("nan")


def summarise(results: list[Result], pollers: int, block: int) -> None:
    seconds = {
        kind: [r.run["seconds"] for r in results if r.kind == kind]
        for kind in KINDS
        if any(r.kind == kind for r in results)
    }
    print()
    for kind, values in seconds.items():
        label = f"sync {KINDS[kind].format(pollers)}:"
        print(f"{label:<34} median {statistics.median(values):7.1f} s  "
              f"({', '.join(f'{v:.1f}' for v in values)})")  # fmt: skip
    for kind in seconds:
        cpu = [r.cpu["worker"] for r in results if r.kind == kind]
        rest = [r.cpu["rest of machine"] for r in results if r.kind == kind]
        web = [_web_ms(r) for r in results if r.kind == kind and r.requests]
        per_request = f"; web CPU {statistics.median(web):.2f} ms per request" if web else ""
        print(f"  {KINDS[kind].format(pollers):<32} worker CPU median {statistics.median(cpu):5.1f} s; "
              f"rest of machine {', '.join(f'{v:.1f}' for v in rest)} CPU s{per_request}")  # fmt: skip
    # Runs next to each other in time share the machine's other load: compare within
    # each block (alone, polled[, static]) first, then take the median over blocks.
    blocks = [results[i : i + block] for i in range(0, len(results), block)]
    for kind in seconds:
        if kind == "alone" or "alone" not in seconds:
            continue
        pairs = [
            other.run["seconds"] / alone.run["seconds"] - 1
            for b in blocks
            for alone in b
            if alone.kind == "alone"
            for other in b
            if other.kind == kind
        ]
        overall = statistics.median(seconds[kind]) / statistics.median(seconds["alone"]) - 1
        target = "  (target < 10%)" if kind == "fragment" else "  (control)"
        print(f"slowdown {KINDS[kind].format(pollers)}: {statistics.median(pairs):+.1%} median of "
              f"pairs ({', '.join(f'{v:+.0%}' for v in pairs)}); {overall:+.1%} of medians{target}")  # fmt: skip
    polled = [r for r in results if r.kind == "fragment"]
    latencies = [v * 1000 for r in polled for v in r.latencies]
    if polled:
        print(f"fragment latency (all polled runs): p50 {percentile(latencies, 50):.0f} ms, "
              f"p99 {percentile(latencies, 99):.0f} ms, {len(latencies):,} answers, "
              f"errors {sum(r.errors for r in polled)}, "
              f"reconnects {sum(r.reconnects for r in polled)}")  # fmt: skip
    failed = [r.n for r in results if r.run["status"] != "succeeded"]
    if failed:
        print(f"WARNING: runs {failed} did not succeed")


def _clean_redis(url: str, queue: str) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError):
        conn = Redis.from_url(url)
        for key in conn.scan_iter(match=f"*{queue}*", count=1000):
            conn.delete(key)
        conn.close()


if __name__ == "__main__":
    main()
