"""Name the sync's own error codes: what can stop or limit a sync besides the SIS itself.

Failures of the SIS (auth, network, malformed data, one school) keep the OneRoster
client's own ``ORxxx`` codes on the run; these ``SYxxx`` codes cover the engine's own
outcomes. Like the client's, they are a contract shown to IT admins and listed in
``docs/error-codes.md``: values never change meaning.
"""

from __future__ import annotations

from sisapp.oneroster.errors import CodeTable


class SyncErrorCode(CodeTable):
    """The engine's own outcomes: (code, meaning, action, operator note) like the client's."""

    INTERNAL_ERROR = (
        "SY100",
        "An unexpected problem stopped the sync; no synced data was changed.",
        "Run the sync again; if it fails again, contact Support with the error code and the "
        "time of the failure.",
        "A bug in the sync engine; the traceback is in the worker log.",
    )
    SECRET_UNREADABLE = (
        "SY110",
        "The stored client secret can no longer be read.",
        "Edit the integration and enter the client secret again.",
        "The secret cannot be decrypted: the server's ENCRYPTION_KEY changed since it was saved.",
    )
    INTEGRATION_MISSING = (
        "SY111",
        "The integration was deleted before its sync ran.",
        "Nothing to do.",
    )
    DATABASE_ERROR = (
        "SY120",
        "School Manager's database was unavailable during the sync; no synced data was changed.",
        "Run the sync again later; if it keeps happening, contact Support with the error code.",
        "A database error (DBAPIError) ended the run and its transaction was rolled back; "
        "the worker log has the error.",
    )
    RUN_DEADLINE = (
        "SY130",
        "The sync took longer than the time allowed for one sync and was stopped; no "
        "synced data was changed.",
        "Try the sync again outside school hours; if the SIS is always this slow, contact "
        "Support with the error code.",
        "The run passed SYNC_RUN_DEADLINE (below SYNC_JOB_TIMEOUT, so the run ends itself "
        "with its own code before RQ kills the job); it stops at the next page.",
    )
    ALL_SCHOOLS_FAILED = (
        "SY140",
        "No school's classes or enrollments could be read; nothing was changed.",
        "See the reason shown with the error; check the SIS is up and the application "
        "may read the schools.",
        "Every school failed as in OR160; the message carries the underlying codes.",
    )
    LARGE_REMOVAL = (
        "SY200",
        "The sync was blocked: it would remove more matched users, classrooms or memberships "
        "than the safety threshold allows; nothing was changed.",
        "Look at what it would remove: the integration's row shows the sync as Blocked with "
        "the removals and why (View Log lists more, as CSV per kind), and Preview shows what "
        "a sync would do now. Check the SIS data (school year, excluded schools). If the "
        "removals are right, press 'Allow these removals' under the Blocked sync: it syncs "
        "once past the threshold.",
        "The run's status is blocked, with its refused change set (counts and first rows). "
        "The threshold is SYNC_REMOVAL_THRESHOLD (0.2 = 20%) of the matched users, "
        "classrooms or classroom memberships the integration held, checked on every sync; "
        "removing fewer than 10 rows never trips it, and removals the admin chose (excluded "
        "schools, Sync Classroom Data switched off) do not count. A blocked run applies "
        "nothing, not even the additions. The consent: services.change_sets."
        "allow_removals_once, or `flask --app app sync run ID --allow-large-removals`; a "
        "preview that would be blocked ends blocked too.",
    )


class SyncError(Exception):
    """A coded reason the sync stopped; ``str()`` is safe to show and log."""

    def __init__(self, code: SyncErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")
