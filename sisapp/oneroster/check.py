"""The connection test behind the admin's "Test Connection" button and ``oneroster check``.

Kept apart from the reading client because its contract differs: it never raises, and
it turns every failure, even an unexpected one, into an answer the admin can act on.
It uses the client only through the small interface below, so it imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from .errors import ErrorCode, OneRosterError
from .settings import ConnectionSettings

# Retries per request (the token request too) while the admin waits on the page.
CHECK_RETRIES = 2


class _Client(Protocol):
    settings: ConnectionSettings
    version: str
    auth_mode: str
    known_version: str | None
    known_auth_mode: str | None

    def limit_retries(self, retries: int) -> None: ...

    def schools(self) -> Iterator: ...


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """Result of :meth:`OneRosterClient.check`, as shown to the admin and printed by the CLI."""

    ok: bool
    version: str | None = None
    auth: str | None = None
    schools: int | None = None
    error_code: str | None = None
    message: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def check_connection(client: _Client) -> ConnectionCheck:
    """Authenticate, read the schools, report version/auth/count; never raises.

    The count is the schools received, never the SIS's X-Total-Count header, which
    some servers get wrong.
    """
    client.limit_retries(min(client.settings.max_retries, CHECK_RETRIES))
    try:
        version = client.version
        count = sum(1 for _ in client.schools())
        auth = client.auth_mode
        return ConnectionCheck(
            ok=True,
            version=version,
            auth=auth,
            schools=count,
            message=f"Connected: OneRoster {version}, {auth}, {count} schools.",
        )
    except OneRosterError as exc:
        if exc.code is ErrorCode.NO_SCHOOLS:
            version, auth = client.known_version, client.known_auth_mode
            return ConnectionCheck(
                ok=True,
                version=version,
                auth=auth,
                schools=0,
                message=f"Connected: OneRoster {version}, {auth}, but no schools. {exc}",
            )
        return ConnectionCheck(
            ok=False,
            version=client.known_version,
            auth=client.known_auth_mode,
            error_code=exc.code.value,
            message=str(exc),
        )
    except Exception as exc:  # noqa: BLE001 - the admin page must get an answer
        return ConnectionCheck(
            ok=False,
            version=client.known_version,
            auth=client.known_auth_mode,
            error_code=ErrorCode.INTERNAL_ERROR.value,
            message=f"Unexpected error: {type(exc).__name__}",
        )
