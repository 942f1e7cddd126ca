"""What the notification tests share: a real SMTP server (aiosmtpd) and its settings."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_PASSWORD = "smtp-pass-Zq8-never-logged"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self):
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """aiosmtpd on 127.0.0.1; with `login`, it asks for that user and password (AUTH)."""

    def __init__(self, port: int | None = None, login: tuple[str, str] | None = None):
        self.port = port or free_port()
        self.inbox = Inbox()
        self.login = login
        self.logins: list[str] = []
        auth = {"authenticator": self._authenticate, "auth_require_tls": False} if login else {}
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **auth)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            )
            == self.login
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def mail_env(smtp_url: str, **extra) -> dict:
    """Environment of a worker that sends mail through `smtp_url`."""
    return {
        "SISAPP_SMTP_URL": smtp_url,
        "SISAPP_MAIL_FROM": "School Manager <sis@school.example>",
        "SISAPP_SERVER_URL": "https://sis.example",
        "SISAPP_MAIL_TIMEOUT": "5",
        **extra,
    }
