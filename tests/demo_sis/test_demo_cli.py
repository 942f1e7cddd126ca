"""The ``demo-sis`` command: writes its files, prints how to connect, then serves."""

from __future__ import annotations

import csv
import json

from sisapp.demo_sis import DemoSISServer


def test_command_prints_connection_details_and_writes_files(app, tmp_path, monkeypatch):
    served = {}

    def fake_serve(self):
        served["server"] = self
        self.stop()  # releases the port the banner bound
        raise KeyboardInterrupt

    monkeypatch.setattr(DemoSISServer, "serve_forever", fake_serve)
    directory, expected = tmp_path / "d" / "dir.csv", tmp_path / "e.json"
    result = app.test_cli_runner().invoke(
        args=[
            "demo-sis",
            "--schools",
            "2",
            "--students",
            "120",
            "--port",
            "0",
            "--directory-out",
            str(directory),
            "--expected-out",
            str(expected),
            "--version-mode",
            "v1p2",
            "--client-secret",
            "s3cret",
            "--malformed-at",
            "users:10",
            "--broken-school",
            "0",
            "--latency",
            "5",
            "--changed-share",
            "0.01",
            "--token-lifetime",
            "60",
        ],
    )
    assert result.exit_code == 0, result.output
    server = served["server"]
    out = result.output
    assert server.root_url in out and server.token_url in out
    assert "/ims/oneroster/rostering/v1p2" in out and "/ims/oneroster/v1p1" not in out
    assert "demo-client" in out and "s3cret" in out
    assert f'flask --app app directory import {directory} --device "Demo School"' in out
    assert server.faults.malformed_at == ("users", 10) and server.faults.broken_school == "0"
    assert server.auth.token_lifetime == 60
    with directory.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["email", "given_name", "family_name", "kind", "source"]
    data = json.loads(expected.read_text())
    assert data["students"] == 120 and data["revision"] == 1
    assert len(data["counts"]) == 32
