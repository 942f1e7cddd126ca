"""Send one email through the operator's SMTP server (SMTP_URL), with the standard library.

`smtp://user:pass@host:port` (plain, for a relay on a trusted network),
`smtp+starttls://...` (STARTTLS required) and `smtps://...` (TLS from the first byte);
SMTP_CA_FILE names the CA certificates to trust instead of the system's.
Errors name the host and port only: the URL's password never reaches a log or a job's
failure text.
"""

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """Sending failed; ``str()`` is safe to log (no credentials)."""


@dataclass(frozen=True)
class SmtpSettings:
    scheme: str
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpSettings:
    """The parts of SMTP_URL; MailError (without the URL) when it is not one of ours."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise MailError("SMTP_URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise MailError("SMTP_URL must be smtp://, smtp+starttls:// or smtps:// with a host")
    return SmtpSettings(
        scheme=scheme,
        host=parts.hostname,
        port=port or SCHEMES[scheme],
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def send_message(
    url: str, message: EmailMessage, timeout: float = 30, ca_file: str | None = None
) -> None:
    """Deliver `message` to its recipients; raises MailError on any failure.

    TLS (smtps, smtp+starttls) always checks the server's certificate and name: against
    the system's trusted CAs, or only those in `ca_file` (SMTP_CA_FILE: a relay with a
    certificate of the organisation's own CA).
    """
    settings = parse_smtp_url(url)
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except OSError:  # missing or unreadable (SSLError is an OSError too)
        raise MailError("SMTP_CA_FILE could not be read as PEM certificates") from None
    try:
        if settings.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with client:
            client.ehlo()
            if settings.scheme == "smtp+starttls":
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The type and SMTP reply code only: a reply's text could echo the login.
        code = getattr(exc, "smtp_code", "")
        reason = f"{type(exc).__name__} {code}".strip()
        raise MailError(f"could not send mail via {settings.where}: {reason}") from None
