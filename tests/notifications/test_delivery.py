"""A mail server that is down never touches a sync, and its emails are retried by RQ."""

import time

from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.services.sync_runs import request_sync
from tests.helpers.mail import SMTP_PASSWORD, SmtpServer, free_port, mail_env
from tests.helpers.processes import finish


def test_an_unreachable_mail_server_leaves_the_sync_alone_and_the_email_is_retried(
    school, processes, redis_conn
):
    port = free_port()  # nothing listens here yet
    smtp_url = f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{port}"
    env = mail_env(
        smtp_url, SISAPP_FAKE_SYNC_OUTCOME="failed", SISAPP_MAIL_RETRY_INTERVALS="[1, 1]"
    )
    run, _ = request_sync(school["integration"], SyncTrigger.SCHEDULED)

    first = processes.worker(**env)
    log = finish(first)

    db.session.rollback()
    run = db.session.get(SyncRun, run.id)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "OR110")
    assert run.error_message == "The SIS did not answer."
    ann, bob = school["admins"]["ann"], school["admins"]["bob"]
    ids = [queue.job_id("mail", run.id, admin.id) for admin in (ann, bob)]
    scheduled = ScheduledJobRegistry(queue=queue.get_mail_queue(connection=redis_conn))
    assert sorted(scheduled.get_job_ids()) == sorted(ids)
    for job_id in ids:
        job = Job.fetch(job_id, connection=redis_conn)
        assert job.get_status() == JobStatus.SCHEDULED
        assert job.retries_left == 1
    # The worker logs why each try failed: where it sent to, never the password.
    assert f"MailError: could not send mail via smtp://127.0.0.1:{port}" in log
    assert SMTP_PASSWORD not in log

    server = SmtpServer(port=port, login=("mailer", SMTP_PASSWORD)).start()
    try:
        time.sleep(1.2)  # the retry interval
        log = finish(processes.flask("worker", "--burst", "--with-scheduler", **env))
    finally:
        server.stop()

    assert sorted(m["To"] for m in server.inbox.messages) == [ann.email, bob.email]
    assert server.logins == ["mailer", "mailer"]
    for job_id in ids:
        assert Job.fetch(job_id, connection=redis_conn).get_status() == JobStatus.FINISHED
    assert SMTP_PASSWORD not in log
    db.session.rollback()
    assert db.session.get(SyncRun, run.id).status == SyncStatus.FAILED
