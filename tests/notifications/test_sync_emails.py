"""Sync outcome emails through real workers and a real SMTP server (issue 20, item 4)."""

import pytest

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.services.error_codes import code_info
from sisapp.services.sync_runs import request_sync
from tests.helpers.mail import mail_env
from tests.helpers.processes import finish

NORTH_WANTS = {"ann@northside.example", "bob@northside.example"}


def _run_scheduled(processes, integration, smtp_url: str, outcome: str) -> SyncRun:
    run, created = request_sync(integration, SyncTrigger.SCHEDULED)
    assert created
    finish(processes.worker(**mail_env(smtp_url, SISAPP_FAKE_SYNC_OUTCOME=outcome)))
    db.session.rollback()
    return db.session.get(SyncRun, run.id)


@pytest.mark.parametrize(
    ("outcome", "status", "code", "headline"),
    [
        ("failed", SyncStatus.FAILED, "OR110", "failed"),
        ("partial", SyncStatus.PARTIAL, "OR160", "partly failed"),
        ("blocked", SyncStatus.PARTIAL, "SY200", "was blocked by the safety threshold"),
    ],
)
def test_a_troubled_scheduled_sync_emails_each_opted_in_admin_of_its_device_once(
    school, processes, smtp, outcome, status, code, headline
):
    run = _run_scheduled(processes, school["integration"], smtp.url, outcome)

    assert run.status == status and run.error_code == code
    assert run.notified_at is not None
    assert sorted(m["To"] for m in smtp.inbox.messages) == sorted(NORTH_WANTS)
    info = code_info(code)
    for message in smtp.inbox.messages:
        assert message["Subject"].strip() == f"Sync of Northside PowerSchool {headline} ({code})"
        assert message["From"] == "School Manager <sis@school.example>"
        body = message.get_content()
        assert "scheduled sync of Northside PowerSchool" in body
        assert f"Error code: {code}" in body
        assert info.meaning in body and info.action in body
        link = f"https://sis.example/sis-integration/{run.integration_id}/log?run={run.id}"
        assert link in body
        assert "https://sis.example/account/notifications" in body
    assert smtp.inbox.to("quiet@northside.example") == []
    assert smtp.inbox.to("sue@southside.example") == []


def test_a_sync_that_succeeds_after_a_failure_sends_back_to_normal(school, processes, smtp):
    _run_scheduled(processes, school["integration"], smtp.url, "failed")
    assert len(smtp.inbox.messages) == 2

    run = _run_scheduled(processes, school["integration"], smtp.url, "succeeded")

    assert run.status == SyncStatus.SUCCEEDED
    recovered = smtp.inbox.messages[2:]
    assert sorted(m["To"] for m in recovered) == sorted(NORTH_WANTS)
    for message in recovered:
        assert message["Subject"].strip() == "Sync of Northside PowerSchool is back to normal"
        assert "Error code" not in message.get_content()

    _run_scheduled(processes, school["integration"], smtp.url, "succeeded")
    assert len(smtp.inbox.messages) == 4, "a success after a success tells nobody"


def test_the_other_devices_admins_hear_only_of_their_own_syncs(school, processes, smtp):
    _run_scheduled(processes, school["other_integration"], smtp.url, "failed")

    assert [m["To"] for m in smtp.inbox.messages] == ["sue@southside.example"]
    assert "Southside Infinite Campus" in smtp.inbox.messages[0]["Subject"]
