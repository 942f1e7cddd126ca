"""What recording a run's change set costs (issue 16): its share of a full and a delta sync.

    .venv/bin/python bench/change_sets.py --students 20000 [--database-url URL]

Runs a full sync, then a delta after ``--changes`` of the records changed, and a second
full sync after a tenth of the students left the SIS (so removals are recorded too), each
under cProfile. The change set is computed in the apply, on the main thread, by
``sisapp.sync.changes``: its cost is the time spent in that module's functions as called
from outside it (no nested call counted twice), against the time of the whole
``run_sync`` call in the same profile. Also prints the rows stored in ``sync_change``
(bounded per kind) and each run's wall time without the profiler, for scale. cProfile
slows Python code more than SQL, so the share is an upper bound.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sync import (  # noqa: E402
    DemoSIS,
    fresh_integration,
    load,
    own_database,
    run_one,
    setup_app,
)

MODULE = "sisapp/sync/changes.py"


def change_set_seconds(profile: cProfile.Profile, run_call: str = "run_sync") -> tuple[float, float]:
    """(seconds in the change-set module entered from outside it, seconds of run_sync)."""
    stats = pstats.Stats(profile).stats
    inside, total = 0.0, 0.0
    for (path, _line, name), (_cc, _nc, _tt, ct, callers) in stats.items():
        if name == run_call and path.endswith("sisapp/sync/engine.py"):
            total = max(total, ct)
        if not path.endswith(MODULE):
            continue
        for (caller_path, _, _), caller in callers.items():
            if not caller_path.endswith(MODULE):
                inside += caller[3]
    return inside, total


class StatementTimes:
    """Total seconds and calls per statement text, while ``on``."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.totals: dict[str, list] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def _before(conn, _cursor, _statement, _params, _context, _many) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, _cursor, statement, _params, _context, _many) -> None:
        seconds = time.perf_counter() - conn.info["bench_started"].pop()
        key = re.sub(r"\s+", " ", statement).strip()[:160]
        total = self.totals.setdefault(key, [0, 0.0])
        total[0] += 1
        total[1] += seconds

    def report(self, top: int) -> None:
        ranked = sorted(self.totals.items(), key=lambda item: -item[1][1])[:top]
        for text, (calls, seconds) in ranked:
            print(f"    {seconds:6.2f} s {calls:5d}x  {text}", flush=True)
        self.totals.clear()


def measured(label: str, integration, full: bool, env, statements=None, top: int = 0) -> None:
    from sqlalchemy import func, select

    from sisapp.extensions import db
    from sisapp.models import SyncChange

    profile = cProfile.Profile()
    profile.enable()
    run, seconds, _ = run_one(integration, full, env)
    profile.disable()
    inside, total = change_set_seconds(profile)
    rows = db.session.scalar(select(func.count()).where(SyncChange.run_id == run.id))
    share = inside / total if total else 0.0
    print(
        f"{label:<34} {run.status.value:<9} change set {inside:6.2f} s of {total:6.2f} s "
        f"profiled ({share:5.1%}); {rows:,} rows stored; changes {run.changes}",
        flush=True,
    )
    if statements is not None:
        statements.report(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--changes", type=float, default=0.01)
    parser.add_argument("--statements", type=int, default=0,
                        help="print the N statements that took the most time in each run")  # fmt: skip
    args = parser.parse_args()
    args.parents = None
    schools = max(1, args.students // 2000)
    workdir = Path(tempfile.mkdtemp(prefix="sisapp-bench-changes-"))
    os.environ.setdefault("SISAPP_INSTANCE_PATH", str(workdir))
    print(f"Generating and serving {schools} schools, {args.students:,} students...", flush=True)
    sis = DemoSIS(schools, args.students, args.seed, str(workdir / "directory.csv"))
    try:
        with own_database(args.database_url, workdir, label="changes") as url:
            from sisapp.extensions import db
            from sisapp.keys import SecretBox
            from sisapp.sync import SyncEnvironment

            app = setup_app(url)
            box = SecretBox(app.config["ENCRYPTION_KEY"])
            integration, _ = fresh_integration(args, sis, box, workdir)
            env = SyncEnvironment(box=box, allow_private=True, page_size=1000, concurrency=8,
                                  today=sis.info["today"])  # fmt: skip
            print(f"Database: {db.engine.url.get_backend_name()}; {load()}", flush=True)
            times = StatementTimes(db.engine) if args.statements else None
            timed = {"statements": times, "top": args.statements}
            started = time.perf_counter()
            measured("full sync (first)", integration, True, env, **timed)
            sis.ask("changes", args.changes)
            db.session.refresh(integration)
            measured(f"delta after {args.changes:.0%} changed", integration, False, env, **timed)
            sis.ask("remove_students", 0.1)
            db.session.refresh(integration)
            integration.allow_large_removals = True  # the admin's one-time consent
            db.session.commit()
            measured("full sync, 10% of students gone", integration, True, env, **timed)
            print(f"All three in {time.perf_counter() - started:.0f} s; {load()}")
    finally:
        sis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
