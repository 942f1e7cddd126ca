"""Worker processes of a test: `flask` and script subprocesses in process groups of
their own, their output, and waiting for what they commit."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sisapp.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def worker_env(app, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        SISAPP_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SISAPP_SECRET_KEY=app.config["SECRET_KEY"],
        SISAPP_ENCRYPTION_KEY=app.config["ENCRYPTION_KEY"],
        SISAPP_ALLOW_PRIVATE_SIS_URLS="1",
        REDIS_URL=app.config["REDIS_URL"],
        SISAPP_RQ_QUEUE=app.config["RQ_QUEUE"],
        PYTHONUNBUFFERED="1",
    )
    for key in ("SYNC_RUNNER", "SYNC_ENVIRONMENT"):
        if app.config.get(key) is not None:
            env[f"SISAPP_{key}"] = str(app.config[key])
    for key, value in app.config.items():
        if key.startswith(("FAKE_SYNC_", "SYNC_", "SCHEDULER_", "SWEEP_", "CATCHUP_")):
            env[f"SISAPP_{key}"] = str(value)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Processes:
    """Subprocesses started by a test, each in its own process group."""

    def __init__(self, app, tmp_path: Path):
        self.app = app
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def flask(self, *args: str, **env) -> subprocess.Popen:
        log = open(self.tmp_path / f"proc-{len(self.procs)}-{args[0]}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=worker_env(self.app, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log_path = log.name
        log.close()
        self.procs.append(proc)
        return proc

    def python(self, script: str, *args: str, **env) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, script, *args],
            cwd=ROOT,
            env=worker_env(self.app, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def worker(self, burst: bool = True, **env) -> subprocess.Popen:
        return self.flask("worker", *(["--burst"] if burst else []), **env)

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the process, its group and its descendants' groups: RQ's work-horse
        runs in a process group of its own, so killing the worker's group spares it."""
        pids = [proc.pid, *descendants(proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)

    def kill_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc; psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def output(proc) -> str:
    return Path(proc.log_path).read_text()


def finish(proc, timeout: float = 60) -> str:
    """Wait for a burst process; returns its output (asserting it exited 0)."""
    proc.wait(timeout)
    text = output(proc)
    assert proc.returncode == 0, text
    return text


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()  # see other processes' commits
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
