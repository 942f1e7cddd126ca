"""Who is told about which run, once per run; without SMTP the app only logs (direct calls)."""

import logging
from datetime import timedelta

import pytest

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services import notifications
from sisapp.services.mailer import MailError, parse_smtp_url
from sisapp.services.notifications import Outcome
from tests.helpers.mail import SMTP_PASSWORD


def ended_run(integration, status: SyncStatus, code: str | None = None) -> SyncRun:
    now = utcnow()
    run = SyncRun(
        integration_id=integration.id,
        device_id=integration.device_id,
        trigger=SyncTrigger.MANUAL,
        status=status,
        error_code=code,
        started_at=now - timedelta(minutes=5),
        finished_at=now,
    )
    db.session.add(run)
    db.session.commit()
    return run


@pytest.fixture
def mail_on(app, smtp):
    app.config["SMTP_URL"] = smtp.url


def queued_mail(run: SyncRun) -> list[str]:
    prefix = queue.job_id("mail", run.id, "")
    return sorted(j for j in queue.get_mail_queue().job_ids if j.startswith(prefix))


def test_the_end_of_a_run_queues_one_email_per_opted_in_admin_once(school, mail_on, redis_conn):
    run = ended_run(school["integration"], SyncStatus.FAILED, "OR110")

    assert notifications.run_ended(run.id) == 2
    assert notifications.run_ended(run.id) == 0

    ann, bob = school["admins"]["ann"], school["admins"]["bob"]
    assert queued_mail(run) == sorted(queue.job_id("mail", run.id, a.id) for a in (ann, bob))


@pytest.mark.parametrize(
    ("history", "status", "code", "expected"),
    [
        ([], SyncStatus.CANCELLED, None, None),
        ([], SyncStatus.SUCCEEDED, None, None),
        ([SyncStatus.SUCCEEDED], SyncStatus.SUCCEEDED, None, None),
        ([SyncStatus.FAILED, SyncStatus.CANCELLED], SyncStatus.SUCCEEDED, None, Outcome.RECOVERED),
        ([SyncStatus.PARTIAL], SyncStatus.SUCCEEDED, None, Outcome.RECOVERED),
        ([SyncStatus.SUCCEEDED], SyncStatus.FAILED, "JB300", Outcome.FAILED),
        ([], SyncStatus.PARTIAL, "OR160", Outcome.PARTIAL),
        ([], SyncStatus.PARTIAL, "SY200", Outcome.BLOCKED),
        ([], SyncStatus.FAILED, "SY200", Outcome.BLOCKED),
    ],
)
def test_which_ends_tell_the_admins(school, history, status, code, expected):
    for earlier in history:
        ended_run(school["integration"], earlier)
    # Another integration's history never counts.
    ended_run(school["other_integration"], SyncStatus.FAILED)

    assert notifications.outcome_of(ended_run(school["integration"], status, code)) == expected


@pytest.mark.parametrize(
    "status", [SyncStatus.FAILED, SyncStatus.BLOCKED, SyncStatus.PREVIEW, SyncStatus.PARTIAL]
)
def test_a_preview_tells_nobody_and_is_no_history(school, mail_on, redis_conn, status):
    """The admin who pressed Preview is looking at its result; and a failed preview before
    a good sync is no failure the sync recovered from."""
    preview = ended_run(school["integration"], status, "SY200" if status is SyncStatus.BLOCKED else None)  # fmt: skip
    preview.trigger = SyncTrigger.PREVIEW
    db.session.commit()

    assert notifications.outcome_of(preview) is None
    assert notifications.run_ended(preview.id) == 0 and queued_mail(preview) == []
    assert notifications.notify_unsent(utcnow()) == 0
    assert notifications.outcome_of(ended_run(school["integration"], SyncStatus.SUCCEEDED)) is None


def test_cancelled_and_running_runs_tell_nobody(school, mail_on, redis_conn):
    cancelled = ended_run(school["integration"], SyncStatus.CANCELLED)
    running = ended_run(school["other_integration"], SyncStatus.RUNNING)

    assert notifications.run_ended(cancelled.id) == 0
    assert notifications.run_ended(running.id) == 0

    db.session.expire_all()
    assert cancelled.notified_at is None and running.notified_at is None
    assert queued_mail(cancelled) == [] and queued_mail(running) == []


def test_without_smtp_the_app_logs_what_it_would_have_sent(school, redis_conn, caplog):
    run = ended_run(school["integration"], SyncStatus.FAILED, "OR110")

    with caplog.at_level(logging.INFO, logger="sisapp.services.notifications"):
        assert notifications.run_ended(run.id) == 0

    assert "would have sent 'Sync of Northside PowerSchool failed (OR110)' to 2 admin(s)" in (
        caplog.text
    )
    assert queued_mail(run) == []
    assert "northside.example" not in caplog.text


def test_redis_down_leaves_the_run_as_it_ended(school, app, smtp):
    app.config.update(SMTP_URL=smtp.url, REDIS_URL="redis://127.0.0.1:1/0")
    run = ended_run(school["integration"], SyncStatus.PARTIAL, "OR160")

    assert notifications.run_ended(run.id) == 0

    db.session.expire_all()
    assert (run.status, run.error_code) == (SyncStatus.PARTIAL, "OR160")


def test_opted_out_admins_are_not_recipients(school):
    north = school["north"].id
    assert [a.email for a in notifications.recipients(north)] == [
        "ann@northside.example",
        "bob@northside.example",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("smtp", "mail.example", 25, "", "")),
        (
            "smtp+starttls://u%40x:Pw%2Fsecret@mail.example",
            ("smtp+starttls", "mail.example", 587, "u@x", "Pw/secret"),
        ),
        (
            "smtps://u:Pw-secret@mail.example:2465",
            ("smtps", "mail.example", 2465, "u", "Pw-secret"),
        ),
    ],
)
def test_smtp_urls(url, expected):
    s = parse_smtp_url(url)
    assert (s.scheme, s.host, s.port, s.username, s.password) == expected
    assert "secret" not in repr(s)


@pytest.mark.parametrize(
    "url", [f"http://u:{SMTP_PASSWORD}@mail.example", f"smtp://u:{SMTP_PASSWORD}@:x"]
)
def test_a_bad_smtp_url_is_refused_without_echoing_it(url):
    with pytest.raises(MailError) as raised:
        parse_smtp_url(url)
    assert SMTP_PASSWORD not in str(raised.value)


def test_a_line_break_in_a_name_stays_out_of_the_subject():
    title = notifications.subject("North\r\nBcc: x@evil.example", Outcome.FAILED, "OR110")
    assert title == "Sync of North Bcc: x@evil.example failed (OR110)"


@pytest.mark.parametrize("setting", [[5, 30], "5, 30", "5 30"])
def test_retry_intervals_from_a_list_or_the_environment(school, app, smtp, redis_conn, setting):
    app.config.update(SMTP_URL=smtp.url, MAIL_RETRY_INTERVALS=setting)
    run = ended_run(school["integration"], SyncStatus.FAILED, "OR110")

    notifications.run_ended(run.id)

    job = queue.get_mail_queue().fetch_job(queued_mail(run)[0])
    assert (job.retries_left, job.retry_intervals, job.timeout) == (2, [5, 30], 120)
