"""Name the sync's own error codes: what can stop or limit a sync besides the SIS itself.

Failures of the SIS (auth, network, malformed data, one school) keep the OneRoster
client's own ``ORxxx`` codes on the run; these ``SYxxx`` codes cover the engine's own
outcomes. Like the client's, they are a contract shown to IT admins and listed in
``docs/error-codes.md``: values never change meaning.
"""

from __future__ import annotations

from sisapp.oneroster.errors import CodeTable


class SyncErrorCode(CodeTable):
    """The engine's own outcomes: (code, meaning, action) like the client's codes."""

    INTERNAL_ERROR = (
        "SY100",
        "An unexpected error stopped the sync (a bug); no synced data was changed.",
        "Run the sync again; if it fails again, report it with the time of the failure.",
    )
    SECRET_UNREADABLE = (
        "SY110",
        "The stored client secret cannot be decrypted (the server's encryption key changed).",
        "Edit the integration and enter the client secret again.",
    )
    INTEGRATION_MISSING = (
        "SY111",
        "The integration was deleted before its sync ran.",
        "Nothing to do.",
    )
    DATABASE_ERROR = (
        "SY120",
        "The database was unavailable during the sync; no synced data was changed.",
        "Run the sync again once the database is back.",
    )
    ALL_SCHOOLS_FAILED = (
        "SY140",
        "No school's classes or enrollments could be read; nothing was changed.",
        "See the underlying code in the message; check the SIS is up and the application "
        "may read the schools.",
    )
    LARGE_REMOVAL = (
        "SY200",
        "The sync would remove more matched users, classrooms or memberships than the "
        "safety threshold allows; nothing was changed.",
        "Check the SIS data (school year, excluded schools). If the removal is right, choose "
        "'Allow large removals' on the integration and sync again (applies once).",
    )


class SyncError(Exception):
    """A coded reason the sync stopped; ``str()`` is safe to show and log."""

    def __init__(self, code: SyncErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")
