"""The bench/ scripts still run: each with a tiny district, checked for its figure lines.

They are run by hand for docs/performance.md, not timed here; this only keeps them from
rotting as the code they drive changes. Each script runs as a subprocess in a process
group of its own (they start children: the demo SIS, gunicorn, an RQ worker), killed
as a group if it overstays.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.app import TEST_REDIS_URL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SISAPP_INSTANCE_PATH"}
    env.update(REDIS_URL=TEST_REDIS_URL, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the script stops what it started
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        pytest.fail(f"bench/{script} overran {timeout} s:\n{output}")
    assert proc.returncode == 0, output
    return output


def assert_lines(output: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, output, re.MULTILINE), f"no line like {pattern!r} in:\n{output}"


def test_sync_bench_prints_its_figures():
    output = run_script("sync.py", "--students", "200", "--skip-latency", "--pairs", "2")
    assert_lines(
        output,
        r"^download\+parse only .* s .* records",
        r"^full sync .* s .* records .* peak RSS",
        r"counts match the generator",
        r"sync / download = \d",
        r"delta / full = \d",
        r"^pair 2: full sync .* s .* records",
        r"sync / download = \d\.\d\d median of 2 pairs \(spread \d\.\d\d-\d\.\d\d\)",
        r"delta / full = \d\.\d{3} median of 2 pairs",
        r"^Machine at start: load average",
        r"^  cpu: this process \d+\.\d s, demo SIS \d+\.\d s; \d+\.\d\d cores busy",
        r"CPU the full sync spends beyond the download's \(all processes\): -?\d+\.\d s median",
    )


def test_latency_bench_prints_its_figures():
    output = run_script(
        "latency.py", "--students", "200", "--latency-ms", "5,20",
        "--project", "200000", "--school-size", "2000", "--cap-ms", "20",
    )  # fmt: skip
    assert_lines(
        output,
        r"^20 ms per page$",
        r"read, one page at a time +\d+\.\d s .*model",
        r"read, concurrency 8 +\d+\.\d s",
        r"serial / concurrent = \d+\.\dx",
        r"full sync, concurrency 8 .* succeeded",
        r"^Projection",
        r"^ +200,000 +100 ",
        r"^Slow SIS at the cap: 20 ms per page, page size 100, cap 8$",
        r"read, cap 8 .* effective concurrency \d+\.\d\d of 8 .* at most [1-8] at once",
        r"projected to 50,000 students: [\d,]+ pages in \d+\.\d min",
    )


def test_schedule_bench_prints_its_figures():
    args = ["--integrations", "300", "--workers", "20", "--requests", "10"]
    if os.environ.get("SISAPP_TEST_DATABASE_URL"):
        args += ["--database-url", os.environ["SISAPP_TEST_DATABASE_URL"]]
    output = run_script("schedule.py", *args)
    assert_lines(
        output,
        r"^Plan of the day, 300 syncs, from the database \(cold cache\): \d+ ms",
        r"^ +us_nz: window .* at 20 workers the plan (fits|runs .* past it)$",
        r"^ +au: window ",
        r"^ +uk: window ",
        r"fewest workers that fit every region's window: \d+",
        r"most syncs planned at once: \d+ of 20 workers \(never more than workers\)",
        r"^SIS Integration page, 10 requests: p50 \d+\.\d ms, p95 \d+\.\d ms",
    )


def test_web_bench_prints_its_figures():
    args = ["--students", "200", "--pollers", "5", "--admins", "2", "--seconds", "5"]
    args += ["--repeat", "1"]
    if os.environ.get("SISAPP_TEST_DATABASE_URL"):
        args += ["--database-url", os.environ["SISAPP_TEST_DATABASE_URL"]]
    output = run_script("web.py", *args)
    assert_lines(
        output,
        r"^run 1: sync alone +\d+\.\d s +succeeded",
        r"^run 2: sync with 5 pollers +\d+\.\d s +succeeded",
        r"latency p50 \d+ ms, p99 \d+ ms.*; \d+\.\d\d ms of web CPU per request",
        r"with 5 pollers +worker CPU median .* web CPU \d+\.\d\d ms per request",
        r"^slowdown with 5 pollers: [+-]\d+\.\d%",
        r"^fragment latency \(all polled runs\): p50 \d+ ms, p99 \d+ ms, .* errors 0",
    )
    assert "WARNING" not in output


def test_metrics_bench_prints_its_figures():
    args = ["--integrations", "50", "--runs", "500", "--scrapes", "3"]
    if os.environ.get("SISAPP_TEST_DATABASE_URL"):
        args += ["--database-url", os.environ["SISAPP_TEST_DATABASE_URL"]]
    output = run_script("metrics.py", *args)
    assert_lines(
        output,
        r"^(SQLite|PostgreSQL): 50 integrations, 500 runs",
        r"^response: \d+ KiB, 91 samples",  # runs by status x trigger, 3 regions x 2, 2 queues...: grows
        r"every run's totals, settled kept +\d+\.\d ms \(CPU here \d+\.\d ms\)",
        r"^scrape of /metrics over 3 scrapes: median \d+\.\d ms, p95 \d+\.\d ms, .* CPU of this process median \d+\.\d ms",
    )


def test_change_sets_bench_prints_the_share_of_each_sync():
    output = run_script("change_sets.py", "--students", "300")
    assert_lines(
        output,
        r"^full sync \(first\) +succeeded +change set +[\d.]+ s of +[\d.]+ s profiled .*rows stored",
        r"^delta after 1% changed +succeeded .*change set",
        r"^full sync, 10% of students gone +succeeded .*'removed': [1-9]",
    )
