"""SMTP over TLS: smtps:// (TLS from the first byte) and smtp+starttls:// against a real
aiosmtpd with a certificate of a CA made at test time (trustme), trusted through
SMTP_CA_FILE; the certificate and the server's name are always checked."""

from __future__ import annotations

import ssl
from datetime import timedelta
from email.message import EmailMessage

import pytest
import trustme
from aiosmtpd.controller import Controller

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services import mailer
from sisapp.services.mailer import MailError
from sisapp.services.notification_mail import send_notification
from tests.helpers.mail import SMTP_PASSWORD, Inbox, SmtpServer, free_port

LOGIN = ("mailer", SMTP_PASSWORD)


class TlsSmtpServer(SmtpServer):
    """aiosmtpd speaking TLS from the first byte (`implicit`) or only after STARTTLS,
    which it then requires before anything else (and before AUTH)."""

    def __init__(self, ca: trustme.CA, *, implicit: bool, name: str = "127.0.0.1"):
        # SmtpServer's attributes without its plain controller (whose loop would leak).
        self.port, self.inbox, self.login, self.logins = free_port(), Inbox(), LOGIN, []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)
        auth = {"authenticator": self._authenticate}
        if implicit:
            tls = {"ssl_context": context, "auth_require_tls": False}
        else:
            tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        self.implicit = implicit
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **auth, **tls
        )

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit else "smtp+starttls"
        return f"{scheme}://{LOGIN[0]}:{LOGIN[1]}@127.0.0.1:{self.port}"

    def start(self) -> TlsSmtpServer:
        # aiosmtpd checks an implicit-TLS server is up by a TLS handshake of its own.
        self.controller.start()
        return self


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(params=[True, False], ids=["smtps", "starttls"])
def tls_server(request, ca):
    server = TlsSmtpServer(ca, implicit=request.param).start()
    yield server
    server.stop()


def message(to: str = "ann@northside.example") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sis@school.example", to, "TLS check"
    msg.set_content("hello")
    return msg


def test_mail_goes_through_tls_with_the_configured_ca(tls_server, ca_file):
    mailer.send_message(tls_server.url, message(), timeout=5, ca_file=ca_file)

    assert [m["Subject"] for m in tls_server.inbox.messages] == ["TLS check"]
    assert tls_server.logins == [LOGIN[0]]


def test_an_untrusted_certificate_is_refused_without_the_password(tls_server):
    """The system's CAs do not know the test CA: nothing is sent, and the error names
    the host and port only."""
    with pytest.raises(MailError) as refused:
        mailer.send_message(tls_server.url, message(), timeout=5)

    assert "SSLCertVerificationError" in str(refused.value)
    assert SMTP_PASSWORD not in str(refused.value)
    assert tls_server.inbox.messages == [] and tls_server.logins == []


def test_a_certificate_for_another_name_is_refused(ca, ca_file):
    server = TlsSmtpServer(ca, implicit=True, name="mail.other.example").start()
    try:
        with pytest.raises(MailError, match="SSLCertVerificationError"):
            mailer.send_message(server.url, message(), timeout=5, ca_file=ca_file)
    finally:
        server.stop()
    assert server.inbox.messages == []


def test_starttls_is_required_when_the_url_asks_for_it(ca_file):
    """A server that offers no STARTTLS gets neither the login nor the message."""
    plain = SmtpServer(login=LOGIN).start()
    try:
        url = f"smtp+starttls://{LOGIN[0]}:{LOGIN[1]}@127.0.0.1:{plain.port}"
        with pytest.raises(MailError, match="SMTPNotSupportedError"):
            mailer.send_message(url, message(), timeout=5, ca_file=ca_file)
    finally:
        plain.stop()
    assert plain.inbox.messages == [] and plain.logins == []


def test_an_unreadable_ca_file_is_a_mail_error(tls_server, tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(MailError, match="SMTP_CA_FILE") as refused:
        mailer.send_message(tls_server.url, message(), timeout=5, ca_file=missing)
    assert missing not in str(refused.value)


def test_the_sync_email_job_uses_smtp_ca_file(app, school, tls_server, ca_file):
    """The email job reads SMTP_URL and SMTP_CA_FILE from the app's settings."""
    app.config.update(SMTP_URL=tls_server.url, SMTP_CA_FILE=ca_file)
    now = utcnow()
    run = SyncRun(
        integration_id=school["integration"].id,
        device_id=school["north"].id,
        trigger=SyncTrigger.SCHEDULED,
        status=SyncStatus.FAILED,
        error_code="OR110",
        started_at=now - timedelta(minutes=3),
        finished_at=now,
    )
    db.session.add(run)
    db.session.commit()

    assert send_notification(run.id, school["admins"]["ann"].id, "failed") is True

    assert [m["To"] for m in tls_server.inbox.messages] == ["ann@northside.example"]
    assert "failed (OR110)" in tls_server.inbox.messages[0]["Subject"]
