"""Runs ended by the sweep (JB301, JB303) or never queued (JB302) email the admins once,
as any failed run does: the sweep queues the emails and a real worker sends them to a
real SMTP server (aiosmtpd)."""

from datetime import timedelta

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services.sync_runs import request_sync
from sisapp.services.sync_sweep import sweep_dead_runs
from tests.helpers.mail import mail_env
from tests.helpers.processes import finish

NORTH_WANTS = ["ann@northside.example", "bob@northside.example"]


def dead_run(integration, status: SyncStatus, job_id: str | None, hours_ago: float) -> SyncRun:
    """A run left queued or running by a worker that is gone (no job in Redis)."""
    at = utcnow() - timedelta(hours=hours_ago)
    run = SyncRun(
        integration_id=integration.id,
        device_id=integration.device_id,
        trigger=SyncTrigger.SCHEDULED,
        status=status,
        phase=status.value,
        queued_at=at,
        started_at=at if status is SyncStatus.RUNNING else None,
        heartbeat_at=at if status is SyncStatus.RUNNING else None,
        job_id=job_id,
    )
    db.session.add(run)
    db.session.commit()
    return run


def send_queued_mail(processes, smtp) -> None:
    """One burst worker sends whatever email jobs are on the queue."""
    finish(processes.worker(**mail_env(smtp.url)))


def subjects(smtp) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"].strip()) for m in smtp.inbox.messages)


def test_runs_the_sweep_ends_email_their_admins_once(app, school, processes, smtp):
    app.config["SMTP_URL"] = smtp.url
    lost = dead_run(school["integration"], SyncStatus.QUEUED, "sisapp-gone-job", hours_ago=1)
    silent = dead_run(school["other_integration"], SyncStatus.RUNNING, None, hours_ago=2)

    ended = sweep_dead_runs()

    assert sorted(r.id for r in ended) == sorted([lost.id, silent.id])
    db.session.expire_all()
    assert (lost.status, lost.error_code) == (SyncStatus.FAILED, "JB303")
    assert (silent.status, silent.error_code) == (SyncStatus.FAILED, "JB301")
    assert lost.notified_at is not None and silent.notified_at is not None
    send_queued_mail(processes, smtp)
    assert subjects(smtp) == sorted(
        [(to, "Sync of Northside PowerSchool failed (JB303)") for to in NORTH_WANTS]
        + [("sue@southside.example", "Sync of Southside Infinite Campus failed (JB301)")]
    )
    assert "Error code: JB303" in smtp.inbox.to(NORTH_WANTS[0])[0].get_content()

    assert sweep_dead_runs() == []  # a later sweep sends nothing again
    send_queued_mail(processes, smtp)
    assert len(smtp.inbox.messages) == 3


def test_a_run_that_could_not_be_queued_emails_once_redis_is_back(
    app, school, processes, smtp, redis_conn
):
    """JB302: Redis was down, so neither the job nor its email could be queued; the
    next sweep with Redis back queues the email."""
    app.config["SMTP_URL"] = smtp.url
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    run, created = request_sync(school["integration"], SyncTrigger.MANUAL)
    assert created and (run.status, run.error_code) == (SyncStatus.FAILED, "JB302")
    assert sweep_dead_runs() == []  # Redis still down: the sweep does nothing
    db.session.expire_all()
    assert run.notified_at is None

    app.config["REDIS_URL"] = redis_url
    assert sweep_dead_runs() == []

    db.session.expire_all()
    assert run.notified_at is not None
    send_queued_mail(processes, smtp)
    assert subjects(smtp) == [
        (to, "Sync of Northside PowerSchool failed (JB302)") for to in NORTH_WANTS
    ]
    sweep_dead_runs()
    send_queued_mail(processes, smtp)
    assert len(smtp.inbox.messages) == 2


def test_an_email_redis_refused_is_queued_by_a_later_sweep(app, school, processes, smtp):
    """A run that ended while Redis was down for its email (its worker saw the end but
    could not queue it) is caught up; one that ended days ago is not."""
    from sisapp.services import notifications

    app.config["SMTP_URL"] = smtp.url
    now = utcnow()
    recent = SyncRun(
        integration_id=school["integration"].id,
        device_id=school["north"].id,
        trigger=SyncTrigger.SCHEDULED,
        status=SyncStatus.PARTIAL,
        error_code="OR160",
        started_at=now - timedelta(minutes=9),
        finished_at=now - timedelta(minutes=1),
    )
    old = SyncRun(
        integration_id=school["other_integration"].id,
        device_id=school["south"].id,
        trigger=SyncTrigger.SCHEDULED,
        status=SyncStatus.FAILED,
        error_code="OR110",
        started_at=now - timedelta(days=3),
        finished_at=now - timedelta(days=3) + timedelta(minutes=5),
    )
    db.session.add_all([recent, old])
    db.session.commit()
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    assert notifications.run_ended(recent.id) == 0
    db.session.expire_all()
    assert recent.notified_at is None, "nothing was queued: the claim is given back"

    app.config["REDIS_URL"] = redis_url
    sweep_dead_runs()
    send_queued_mail(processes, smtp)

    assert subjects(smtp) == [
        (to, "Sync of Northside PowerSchool partly failed (OR160)") for to in NORTH_WANTS
    ]
    db.session.expire_all()
    assert old.notified_at is None
