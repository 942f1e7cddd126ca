"""Define the staging tables of a run and the row staged for each record read.

A sync stages what it reads (users, classes, enrollments) before the apply merges it
into the mirror. The staging tables are temporary tables of the one connection the run
uses from the first read to the apply's commit (``engine.run_session``), not shared
tables:

- nothing else can see them, so no other run, page or admin reads half a read;
- writing them takes no lock on the main SQLite database (a temporary table lives in
  the connection's own temporary database) and no WAL or fsync on either database, so
  staging costs less and never blocks the web pages' writes;
- a killed worker leaves nothing behind: its connection, and with it its staging, dies
  with the process. Nothing needs sweeping, and no later run can pick up stale rows.

They are created when the run starts and dropped when it ends (a connection goes back
to the pool without them; one that cannot drop them is discarded). Columns are the
mirror's, plus ``run_id`` and ``active`` (False for a ``tobedeleted`` record). No index:
the apply reads each table whole, once, and an index would cost more than the insert.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Boolean, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table

from sisapp.models import SisClass, SisEnrollment, SisUser, normalise_email
from sisapp.sync import dialect

_metadata = MetaData()
_OWN = ("id", "integration_id")  # the mirror's columns that are not the record's

# The record's columns of each mirror table, in table order: the one definition of the
# order in which a staged row, a mirror copy and a matched user list them.
MIRROR_COLUMNS = {
    model: tuple(c.name for c in model.__table__.columns if c.name not in _OWN)
    for model in (SisUser, SisClass, SisEnrollment)
}
USER_COLUMNS = MIRROR_COLUMNS[SisUser]


def _stage_of(name: str, mirror) -> Table:
    own = [
        Column("id", Integer, primary_key=True),
        Column("run_id", Integer, nullable=False),
        Column("active", Boolean, nullable=False, default=True),
    ]
    fields = [column._copy() for column in mirror.__table__.columns if column.name not in _OWN]
    return Table(name, _metadata, *own, *fields, prefixes=["TEMPORARY"])


STAGE_USER = _stage_of("sis_stage_user", SisUser)
STAGE_CLASS = _stage_of("sis_stage_class", SisClass)
STAGE_ENROLLMENT = _stage_of("sis_stage_enrollment", SisEnrollment)
STAGE_TABLES = (STAGE_USER, STAGE_CLASS, STAGE_ENROLLMENT)
MIRROR_OF = {STAGE_USER: SisUser, STAGE_CLASS: SisClass, STAGE_ENROLLMENT: SisEnrollment}
# Staged rows are tuples in this order (every column of the table but ``id``).
STAGE_COLUMNS = {
    stage: ("run_id", "active", *MIRROR_COLUMNS[mirror]) for stage, mirror in MIRROR_OF.items()
}


def create_stage(conn) -> None:
    """Fresh staging tables on ``conn`` (dropping any a failed run left on it)."""
    for table in STAGE_TABLES:
        table.drop(conn, checkfirst=True)
        table.create(conn)


def drop_stage(conn) -> None:
    for table in STAGE_TABLES:
        table.drop(conn, checkfirst=True)


def analyze_stage(conn) -> None:
    """Statistics of the staged rows for the apply's plans, where the database needs them."""
    dialect.analyze(conn, *(t.name for t in STAGE_TABLES))


# --- the rows -----------------------------------------------------------------------------


def clean(value: str | None, length: int) -> str | None:
    """Fit a SIS string in its column: NULs removed (PostgreSQL refuses them), cut to size."""
    if value is None or (len(value) <= length and "\x00" not in value):
        return value
    return value.replace("\x00", "")[:length]


def joined(ids: Iterable[str]) -> str:
    """sourcedIds one per line (a newline inside one becomes a space)."""
    ids = tuple(ids)
    text = "\n".join(ids)
    if text.count("\n") == max(len(ids) - 1, 0):  # no newline inside an id: the usual case
        return text
    return "\n".join(i.replace("\n", " ") for i in ids)


# The row builders run once per record read, so they cut strings to their columns
# inline: ``v and v[:n]`` keeps None and returns a short string itself. The records
# carry no NULs (``oneroster.records`` drops them).


def _head(run_id: int, record) -> tuple:
    """``(run_id, active, sourced_id)``: how every staged row starts."""
    sid = record.sourced_id
    return (run_id, record.status == "active", sid and sid[:255])


def user_row(run_id: int, user) -> tuple:
    email = normalise_email(user.email)
    phone = user.phone or user.sms
    given, family = user.given_name, user.family_name
    return (
        *_head(run_id, user),
        user.role and user.role[:40],
        bool(user.enabled),
        email[:254] if email else "",
        given and given[:255],
        family and family[:255],
        phone and phone[:60],
        joined(user.org_ids)[:100_000],
        joined(user.agent_ids)[:100_000],
    )


def class_row(run_id: int, school_id: str, cls) -> tuple:
    title, code = cls.title, cls.class_code
    terms = joined(cls.term_ids)[:100_000]
    return (*_head(run_id, cls), school_id, title and title[:255], code and code[:255], terms)


def enrollment_row(run_id: int, school_id: str, enrollment) -> tuple:
    user, cls, role = enrollment.user_id, enrollment.class_id, enrollment.role
    return (
        *_head(run_id, enrollment),
        school_id,
        user and user[:255],
        cls and cls[:255],
        role and role[:40],
        enrollment.begin_date,
        enrollment.end_date,
    )


# The membership step's scratch tables (temporary, of the run's connection).
_memberships_tmp = MetaData()
NEW_MEMBERS = Table(
    "sync_new_member",
    _memberships_tmp,
    Column("classroom_id", Integer, nullable=False),
    Column("directory_user_id", Integer, nullable=False),
    Column("role", String(10)),
    PrimaryKeyConstraint("classroom_id", "directory_user_id"),
    prefixes=["TEMPORARY"],
)
DIRTY_CLASSES = Table(
    "sync_dirty_class",
    _memberships_tmp,
    Column("sis_id", String(255), primary_key=True),
    prefixes=["TEMPORARY"],
)
DIRTY_USERS = Table(
    "sync_dirty_user",
    _memberships_tmp,
    Column("sis_id", String(255), primary_key=True),
    prefixes=["TEMPORARY"],
)
DIRTY_TABLES = (DIRTY_CLASSES, DIRTY_USERS)
