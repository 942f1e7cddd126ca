"""What bench/latency.py and bench/web.py share beyond bench/sync.py's helpers.

bench/sync.py owns the demo SIS child process, the bench app and the sync runner; the
other scripts import those from it. This module adds the pieces they need besides:
integrations against that child, fresh databases per run (SQLite copies or PostgreSQL
databases of our own), percentiles, CPU accounting from /proc (other engineers
share the machine's cores, so every figure is printed with who used the CPU meanwhile),
and subprocesses that cannot outlive the script.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sync import CLIENT_ID, CLIENT_SECRET  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


# --- the app side ------------------------------------------------------------------------


def add_integration(device_id: int, sis_info: dict, box, name: str = "Bench"):
    """An integration of the device against the demo SIS child (default options)."""
    from sisapp.services.integrations import IntegrationData, create_integration

    data = IntegrationData(
        name=name, sis_vendor="other", endpoint_url=sis_info["root_url"],
        token_url=sis_info["token_url"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
    )  # fmt: skip
    return create_integration(device_id, data, box)


def new_device(name: str):
    from sisapp.extensions import db
    from sisapp.models import Device, Region

    device = Device(name=name, region=Region.UK)
    db.session.add(device)
    db.session.commit()
    return device


# --- databases: a prepared template, one fresh copy per run ---------------------------------


class Databases:
    """SQLite files in the work directory, or databases of our own on a PostgreSQL server."""

    def __init__(self, server_url: str | None, workdir: Path, prefix: str) -> None:
        self.workdir = workdir
        self.created: list[str] = []
        self.admin = None
        if server_url:
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url

            url = make_url(server_url)
            if not url.drivername.startswith("postgres"):
                raise SystemExit("--database-url must name a PostgreSQL server (or leave it out)")
            self.url = url.set(drivername="postgresql+psycopg")
            self.prefix = f"{prefix}_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self.admin else "SQLite"

    def _pg(self, sql: str) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def template(self) -> str:
        if self.admin is None:
            return f"sqlite:///{self.workdir / 'template.db'}"
        name = f"{self.prefix}_template"
        self._pg(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def copy(self, n: int) -> str:
        """A fresh copy of the template (whose connections must all be closed)."""
        if self.admin is None:
            path = self.workdir / f"run-{n}.db"
            shutil.copyfile(self.workdir / "template.db", path)
            return f"sqlite:///{path}"
        name = f"{self.prefix}_run{n}"
        self._pg(f'CREATE DATABASE "{name}" TEMPLATE "{self.prefix}_template"')
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def discard(self, url: str) -> None:
        """Free a run's copy once its figures are read (a synced copy is large)."""
        if self.admin is None:
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
            return
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.created.remove(name)

    def drop_all(self) -> None:
        if self.admin is None:
            return
        for name in reversed(self.created):
            with contextlib.suppress(Exception):
                self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


# --- figures -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --- CPU accounting ------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its closing one.
    return text.rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (and their reaped children)."""
    total = 0
    for each in (pid, *descendants(pid)):
        fields = _stat_fields(each)
        if fields:  # utime, stime, cutime, cstime (fields 14-17 of proc(5))
            total += sum(int(v) for v in fields[11:15])
    return total / TICKS


def own_cpu() -> float:
    """CPU seconds of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reaped_children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


# --- subprocesses ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Children:
    """Subprocesses, each in a process group of its own, all ended by ``stop_all``.

    RQ's work-horse and gunicorn's workers make their own children (RQ's in a new
    process group), so stopping signals every descendant's group too, then SIGKILLs
    whatever is still there. Use as a context manager so a crash or Ctrl-C stops them.
    """

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict) -> Child:
        log_path = self.logdir / f"{name}-{len(self.children)}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, grace: float = 5.0) -> None:
        pids = [child.process.pid, *descendants(child.process.pid)]
        self._signal(pids, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(grace)
        self._signal([child.process.pid, *pids, *descendants(child.process.pid)], signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(5)
        if child in self.children:
            self.children.remove(child)

    @staticmethod
    def _signal(pids: list[int], sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def stop_all(self) -> None:
        for child in list(reversed(self.children)):
            self.stop(child)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks stop what the script started."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
