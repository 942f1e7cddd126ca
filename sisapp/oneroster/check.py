"""The connection test behind the admin's "Test Connection" button and ``oneroster check``.

Kept apart from the reading client because its contract differs: it never raises, and
it turns every failure, even an unexpected one, into an answer the admin can act on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from . import records
from .errors import ErrorCode, OneRosterError

if TYPE_CHECKING:
    from .client import OneRosterClient


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


def check_connection(client: OneRosterClient) -> ConnectionCheck:
    """Authenticate, read one page of schools, report version/auth/count; never raises."""
    version = auth = None
    retries = min(client.settings.max_retries, 2)
    try:
        client._ensure_ready(max_retries=retries)
        version, auth = client.version, client.auth_mode
        page = client._fetch(
            client.base_url + "/schools?limit=" + str(client.settings.page_size),
            None,
            max_retries=retries,
            parse=records.parse_org,
            path="/schools",
        )
        count = page.total if page.total is not None else len(page.rows)
        auth = client.auth_mode
        more = " or more" if page.total is None and page.next_url else ""
        return ConnectionCheck(
            ok=True,
            version=version,
            auth=auth,
            schools=count,
            message=f"Connected: OneRoster {version}, {auth}, {count}{more} schools.",
        )
    except OneRosterError as exc:
        if client._auth is not None:
            auth = client._auth.mode
        return ConnectionCheck(
            ok=False,
            version=version or client._version,
            auth=auth,
            error_code=exc.code.value,
            message=str(exc),
        )
    except Exception as exc:  # noqa: BLE001 - the admin page must get an answer
        return ConnectionCheck(
            ok=False,
            version=version,
            auth=auth,
            error_code=ErrorCode.INTERNAL_ERROR.value,
            message=f"Unexpected error: {type(exc).__name__}",
        )
