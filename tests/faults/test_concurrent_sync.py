"""Two web processes pressing Sync at the same moment make exactly one run.

Each process is a real, separately started app signed in through the login page; both
wait at a file barrier and POST the Sync button (CSRF header and all) within about a
millisecond of each other, against the same database and queue, for several rounds.
"""

import time

import pytest
from sqlalchemy import func, select

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.services import sync_runs
from tests.helpers.app import PASSWORD
from tests.helpers.integrations import make_integration

pytestmark = pytest.mark.slow

SCRIPT = "tests/faults/press_sync_script.py"
ROUNDS = 4


def _start(processes, integration_id, email, barrier, n=2) -> list:
    barrier.mkdir()
    args = (str(integration_id), email, PASSWORD, str(barrier))
    procs = [processes.python(SCRIPT, *args, f"p{i}", str(ROUNDS)) for i in range(n)]
    deadline = time.monotonic() + 60
    while len(list(barrier.glob("*.ready"))) < n:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1])
        assert time.monotonic() < deadline, "the web processes never got ready"
        time.sleep(0.02)
    return procs


def _press(procs, barrier, round_) -> list[tuple]:
    (barrier / f"go.{round_}").touch()
    results = []
    for proc in procs:
        line = proc.stdout.readline().split()
        assert len(line) == 3, (line, proc.poll())
        results.append((int(line[0]), line[1], line[2] == "True"))
    return results


def test_two_web_processes_pressing_sync_at_once_make_one_run(
    app, admin, device, processes, redis_conn, tmp_path
):
    integration = make_integration(device)
    barrier = tmp_path / "barrier"
    procs = _start(processes, integration.id, admin.email, barrier)
    for round_ in range(ROUNDS):
        results = _press(procs, barrier, round_)
        assert [status for status, _, _ in results] == [200, 200]
        assert len({run_id for _, run_id, _ in results}) == 1, results  # both show the same run
        assert sorted(already for _, _, already in results) == [False, True], results
        db.session.rollback()
        runs = db.session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert len(runs) == round_ + 1
        assert runs[-1].status is SyncStatus.QUEUED and str(runs[-1].id) == results[0][1]
        assert queue.get_queue().count == 1  # and one job
        sync_runs.cancel_run(runs[-1])
        assert queue.get_queue().count == 0
    for proc in procs:
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert db.session.scalar(select(func.count(SyncRun.id))) == ROUNDS
