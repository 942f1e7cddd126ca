"""The staging tables: temporary tables of the run's own database connection.

A sync stages what it reads (users, classes, enrollments) before the apply merges it
into the mirror. The staging tables are temporary tables of the one connection the run
uses from the first read to the apply's commit (``engine._run_connection``), not shared
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

from sqlalchemy import Boolean, Column, Integer, MetaData, Table

from sisapp.models import SisClass, SisEnrollment, SisUser

_metadata = MetaData()


def _stage_of(name: str, mirror) -> Table:
    own = [
        Column("id", Integer, primary_key=True),
        Column("run_id", Integer, nullable=False),
        Column("active", Boolean, nullable=False, default=True),
    ]
    fields = [
        column._copy()
        for column in mirror.__table__.columns
        if column.name not in ("id", "integration_id")
    ]
    return Table(name, _metadata, *own, *fields, prefixes=["TEMPORARY"])


STAGE_USER = _stage_of("sis_stage_user", SisUser)
STAGE_CLASS = _stage_of("sis_stage_class", SisClass)
STAGE_ENROLLMENT = _stage_of("sis_stage_enrollment", SisEnrollment)
STAGE_TABLES = (STAGE_USER, STAGE_CLASS, STAGE_ENROLLMENT)


def create_stage(conn) -> None:
    """Fresh staging tables on ``conn`` (dropping any a failed run left on it)."""
    for table in STAGE_TABLES:
        table.drop(conn, checkfirst=True)
        table.create(conn)


def drop_stage(conn) -> None:
    for table in STAGE_TABLES:
        table.drop(conn, checkfirst=True)


def analyze_stage(conn) -> None:
    """PostgreSQL only: statistics for the apply's plans (autovacuum never sees a
    session's temporary tables, so without this the planner guesses their contents)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE " + ", ".join(t.name for t in STAGE_TABLES))
