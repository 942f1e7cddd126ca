"""`flask --app app sync run ID` started several times at once: one runs, the others
are refused with the refusal JSON and their own exit code (3), never a traceback."""

import json

import pytest
from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from tests.helpers.processes import output

pytestmark = pytest.mark.slow

KEYS = {"status", "unmatched_users", "matched_students", "matched_teachers", "imported_classes",
        "parents", "error_code", "message", "changes"}  # fmt: skip


def _last_json(text: str) -> dict:
    line = [part for part in text.replace("\r", "\n").splitlines() if part.startswith("{")][-1]
    return json.loads(line)


def test_simultaneous_cli_syncs_run_once_and_refuse_the_rest(app, integration, sis, processes):
    sis.faults.latency_ms = 300  # the run lasts seconds: every other start meets it active
    procs = [processes.flask("sync", "run", str(integration.id), "--json") for _ in range(3)]
    for proc in procs:
        proc.wait(120)
    results = sorted((proc.returncode, _last_json(output(proc))) for proc in procs)
    codes = [code for code, _ in results]
    assert codes == [0, 3, 3], [output(p) for p in procs]
    assert "Traceback" not in "".join(output(p) for p in procs)
    for code, payload in results:
        assert set(payload) == KEYS
        assert payload["status"] == ("succeeded" if code == 0 else "refused")
    refused = results[1][1]["message"]
    assert "already queued or running" in refused
    runs = db.session.scalars(select(SyncRun).where(SyncRun.integration_id == integration.id))
    assert [r.status for r in runs] == [SyncStatus.SUCCEEDED]
