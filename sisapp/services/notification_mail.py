"""The email an admin gets about a sync's end, written from the run and its error code,
and sent by the RQ job (sisapp.tasks) so that retries never touch the sync."""

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app

from sisapp.extensions import db
from sisapp.models import AdminUser, OneRosterIntegration, SyncRun
from sisapp.services import mailer
from sisapp.services.error_codes import code_info
from sisapp.services.notifications import Outcome, subject

log = logging.getLogger(__name__)


def send_notification(run_id: int, admin_id: int, outcome: str) -> bool:
    """Send one admin the email about one run; False when there is nobody to tell.

    Raises MailError when the mail server fails, so RQ retries the job. Nothing is written
    to the database: the run's outcome is never touched by mail.
    """
    run = db.session.get(SyncRun, run_id)
    admin = db.session.get(AdminUser, admin_id)
    if run is None or admin is None or admin.device_id != run.device_id:
        return False
    if not admin.notify_sync_results:
        return False
    integration = db.session.get(OneRosterIntegration, run.integration_id)
    message = build_message(run, integration, admin, Outcome(outcome))
    db.session.rollback()  # hold no transaction open while talking to the mail server
    url = current_app.config.get("SMTP_URL")
    if not url:
        log.info("SMTP_URL is not set: would have sent %r to 1 admin", message["Subject"])
        return False
    mailer.send_message(
        url,
        message,
        timeout=float(current_app.config["MAIL_TIMEOUT"]),
        ca_file=current_app.config.get("SMTP_CA_FILE") or None,
    )
    log.info("sent %r about sync run %s to admin %s", message["Subject"], run_id, admin_id)
    return True


def build_message(
    run: SyncRun, integration: OneRosterIntegration | None, admin: AdminUser, outcome: Outcome
) -> EmailMessage:
    name = integration.name if integration else "an integration"
    message = EmailMessage()
    message["Subject"] = subject(name, outcome, run.error_code)
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = admin.email
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="sis-integration")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(_body(run, name, outcome, admin)) + "\n")
    return message


def _body(run: SyncRun, name: str, outcome: Outcome, admin: AdminUser) -> list[str]:
    ended = f"{run.finished_at:%Y-%m-%d %H:%M} UTC" if run.finished_at else "just now"
    lines = [
        "Hello,",
        "",
        f"The {run.trigger.value} sync of {name} {outcome.headline} (ended {ended}).",
    ]
    if outcome is Outcome.RECOVERED:
        lines += ["", "It succeeded after a sync that did not. Nothing more to do."]
    else:
        info = code_info(run.error_code)
        lines += ["", f"Error code: {run.error_code or 'none'}"]
        if info:
            lines += [f"What it means: {info.meaning}", f"What to do: {info.action}"]
        if run.error_message:
            lines += [f"Details: {run.error_message}"]
    lines += [
        "",
        f"See the sync log: {_link('integrations.log', integration_id=run.integration_id, run=run.id)}",
        "",
        f"You get these emails as an admin of this School Manager ({admin.email}).",
        f"To switch them off: {_link('account.notifications')}",
    ]
    return lines


def _link(endpoint: str, **values) -> str:
    """An address to the page: SERVER_URL plus the path, or only the path without it."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    base = str(current_app.config.get("SERVER_URL") or "").rstrip("/")
    return f"{base}{path}"
