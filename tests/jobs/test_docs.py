"""Every job error code is documented, and the Procfile runs the documented commands."""

from pathlib import Path

from sisapp.services.sync_runs import JobErrorCode

ROOT = Path(__file__).resolve().parents[2]


def test_every_job_code_is_documented():
    text = (ROOT / "docs" / "error-codes.md").read_text()
    assert "## Jobs" in text
    for code in JobErrorCode:
        assert f"| {code.value} | `{code.name}` |" in text


def test_procfile_runs_web_worker_and_scheduler():
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert "gunicorn" in procfile["web"] and "app:app" in procfile["web"]
    assert "flask --app app worker" in procfile["worker"]
    assert "flask --app app scheduler" in procfile["scheduler"]
