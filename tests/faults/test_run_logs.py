"""A run's summary and problems reach the process log, tagged with the run in JSON mode."""

import json

from tests.helpers.processes import finish


def test_a_cli_sync_writes_json_lines_tagged_with_its_run(app, integration, processes):
    proc = processes.flask("sync", "run", str(integration.id), "--json", SISAPP_LOG_FORMAT="json")
    text = finish(proc, timeout=120)
    records = []
    for line in text.replace("\r", "\n").splitlines():
        start = line.find('{"time"')  # after a progress line the log record may follow on it
        if start >= 0:
            records.append(json.loads(line[start:]))
    details = json.loads([line for line in text.splitlines() if line.startswith('{"status"')][-1])
    tagged = [r for r in records if r.get("integration_id") == integration.id]
    assert tagged, text
    assert all(r["device_id"] == integration.device_id and "run_id" in r for r in tagged)
    assert any("read " in r["message"] and "records" in r["message"] for r in tagged)
    assert details["status"] == "succeeded"
