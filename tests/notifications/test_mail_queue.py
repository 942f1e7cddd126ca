"""Email jobs have their own queue, which workers serve first: a backlog of syncs never
holds up the admins' emails (real `flask worker` processes, a real SMTP server)."""

import re

from sisapp import queue
from sisapp.extensions import db
from sisapp.models import SyncStatus, SyncTrigger
from sisapp.services import notifications
from sisapp.services.sync_runs import request_sync
from tests.helpers.integrations import make_integration
from tests.helpers.mail import mail_env
from tests.helpers.processes import finish
from tests.notifications.test_rules import ended_run

NORTH_WANTS = ["ann@northside.example", "bob@northside.example"]


def queue_syncs(school, count: int) -> list[int]:
    """`count` syncs waiting on the sync queue (the backlog)."""
    ids = []
    for n in range(count):
        integration = make_integration(school["south"], f"Backlog SIS {n}")
        run, created = request_sync(integration, SyncTrigger.SCHEDULED)
        assert created
        ids.append(run.id)
    return ids


def queue_failure_email(app, school, smtp) -> None:
    app.config["SMTP_URL"] = smtp.url
    run = ended_run(school["integration"], SyncStatus.FAILED, "OR110")
    assert notifications.run_ended(run.id) == 2


def test_a_mail_worker_sends_the_emails_and_leaves_the_syncs(app, school, processes, smtp):
    queue_syncs(school, 3)
    queue_failure_email(app, school, smtp)
    assert queue.get_queue().count == 3 and queue.get_mail_queue().count == 2

    finish(processes.flask("worker", "--burst", "--queue", "mail", **mail_env(smtp.url)))

    assert sorted(m["To"] for m in smtp.inbox.messages) == NORTH_WANTS
    assert queue.get_queue().count == 3, "a mail worker never takes a sync"
    assert queue.get_mail_queue().count == 0


def test_a_worker_sends_waiting_emails_before_the_next_sync(app, school, processes, smtp):
    syncs = queue_syncs(school, 2)  # queued before the email
    queue_failure_email(app, school, smtp)

    log = finish(processes.worker(**mail_env(smtp.url, SISAPP_FAKE_SYNC_OUTCOME="succeeded")))

    # RQ logs "<queue>: <job description> (<job id>)" as it takes each job, in order.
    taken = re.findall(r"Worker \S+: (\S+): (email about|sync run) ", log)
    mail, sync = queue.mail_queue_name_of(app.config), queue.queue_name_of(app.config)
    assert taken == [(mail, "email about")] * 2 + [(sync, "sync run")] * len(syncs), log
    assert sorted(m["To"] for m in smtp.inbox.messages) == NORTH_WANTS
    db.session.rollback()
