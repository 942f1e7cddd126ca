"""Merge a run's staged records into the integration's SIS mirror (inside the apply
transaction).

Full reads replace: users and sessions wholesale, classes and enrollments school by
school. Delta reads merge: a staged record replaces the mirrored one with its sourcedId,
and a staged ``tobedeleted`` record removes it. Staged duplicates (a record served on
two pages while the SIS changed under the read) collapse to the last one read.

Schools excluded, gone from the SIS, or not read because neither classes nor enrollment
dates are synced lose their slice and their ``slice_read_at``, so reading them again
starts with a full read of that school; a school that failed keeps both.
"""

from __future__ import annotations

from sqlalchemy import case, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sisapp.models import (
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
)
from sisapp.sync.stage_tables import STAGE_CLASS, STAGE_ENROLLMENT, STAGE_USER
from sisapp.sync.staging import ReadResult, clean

USER_COLUMNS = (
    "sourced_id",
    "role",
    "enabled",
    "email",
    "given_name",
    "family_name",
    "phone",
    "org_ids",
    "agent_ids",
)
CLASS_COLUMNS = ("sourced_id", "school_id", "title", "class_code", "term_ids")
ENROLLMENT_COLUMNS = (
    "sourced_id",
    "school_id",
    "user_id",
    "class_id",
    "role",
    "begin_date",
    "end_date",
)


def merge_mirror(conn, integration, run_id: int, read: ReadResult, excluded: set[str]) -> bool:
    """Bring the mirror to what the SIS holds now (except failed schools' slices).

    Returns whether whole school slices were dropped (excluded, gone, or not read).
    """
    iid = integration.id
    _merge_orgs(conn, iid, read, excluded)
    _merge_sessions(conn, iid, read)
    _merge_staged(conn, iid, run_id, SisUser, STAGE_USER, USER_COLUMNS, replace_all=read.full)
    school_ids = {s.sourced_id for s in read.schools}
    dropped = (
        [sid for sid in _mirrored_slices(conn, iid) if sid not in school_ids or sid in excluded]
        if read.roster_read
        else None  # every slice
    )
    dropped_any = dropped is None or bool(dropped)
    full_schools = [sid for sid, full in read.read_schools.items() if full]
    read_schools = list(read.read_schools)
    for mirror, stage, columns in (
        (SisClass, STAGE_CLASS, CLASS_COLUMNS),
        (SisEnrollment, STAGE_ENROLLMENT, ENROLLMENT_COLUMNS),
    ):
        where = mirror.integration_id == iid
        if dropped is None:
            conn.execute(delete(mirror).where(where))
        elif dropped or full_schools:
            conn.execute(delete(mirror).where(where, mirror.school_id.in_(dropped + full_schools)))
        if read_schools:
            _merge_staged(conn, iid, run_id, mirror, stage, columns, schools=read_schools)
    return dropped_any


def _mirrored_slices(conn, iid: int) -> set[str]:
    found = set()
    for model in (SisClass, SisEnrollment):
        found.update(
            conn.scalars(select(model.school_id).where(model.integration_id == iid).distinct())
        )
    return found


def _merge_orgs(conn, iid: int, read: ReadResult, excluded: set[str]) -> None:
    existing = {
        sid: oid
        for oid, sid in conn.execute(
            select(SisOrg.id, SisOrg.sourced_id).where(SisOrg.integration_id == iid)
        )
    }
    seen = set()
    for org in read.schools:
        sid = clean(org.sourced_id, 255)
        if sid in seen:
            continue
        seen.add(sid)
        values = {"name": clean(org.name, 255), "type": clean(org.type, 40)}
        if sid in read.read_schools:
            values["slice_read_at"] = read.started_at
        elif sid in excluded or not read.roster_read:
            values["slice_read_at"] = None
        if sid in existing:
            conn.execute(update(SisOrg).where(SisOrg.id == existing[sid]).values(**values))
        else:
            conn.execute(insert(SisOrg).values(integration_id=iid, sourced_id=sid, **values))
    gone = [oid for sid, oid in existing.items() if sid not in seen]
    if gone:
        conn.execute(delete(SisOrg).where(SisOrg.id.in_(gone)))


def _merge_sessions(conn, iid: int, read: ReadResult) -> None:
    latest = {s.sourced_id: s for s in read.sessions}
    where = SisSession.integration_id == iid
    if read.full:
        conn.execute(delete(SisSession).where(where))
    elif latest:
        ids = [clean(sid, 255) for sid in latest]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(delete(SisSession).where(where, SisSession.sourced_id.in_(chunk)))
    rows = [
        {
            "integration_id": iid,
            "sourced_id": clean(s.sourced_id, 255),
            "start_date": s.start_date,
            "end_date": s.end_date,
        }
        for s in latest.values()
        if s.status == "active"
    ]
    if rows:
        conn.execute(insert(SisSession), rows)


def _merge_staged(
    conn,
    iid: int,
    run_id: int,
    mirror,
    stage,
    columns: tuple[str, ...],
    *,
    replace_all: bool = False,
    schools: list[str] | None = None,
) -> None:
    """Bring the mirrored records to their staged versions: the last version read of
    each sourcedId is written, and removed when it is a ``tobedeleted`` one.

    Into an empty slice (a full read: ``replace_all``, or the schools read in full,
    deleted by the caller) the rows are appended. Into a mirror that holds rows (a
    delta) they are upserted, so a changed record is rewritten where it lies and its
    index entries stay (the sourcedId and usually the school do not change): a 1%
    delta wrote half the pages it did as a delete and an insert, and the commit that
    writes them is the costliest step of a small delta.
    """
    staged = stage.c.run_id == run_id
    if schools is not None:
        staged = staged & stage.c.school_id.in_(schools)
    if replace_all:
        conn.execute(delete(mirror).where(mirror.integration_id == iid))
    upsert = not replace_all and _holds_any(conn, mirror, iid)
    if conn.dialect.name == "sqlite":
        _copy_last_read_sqlite(conn, iid, mirror, stage, staged, columns, upsert)
    else:
        _copy_last_read_postgresql(conn, iid, mirror, stage, staged, columns, upsert)


def _upserting(statement, columns):
    """``statement`` (a dialect insert) updating every column but the key on conflict."""
    return statement.on_conflict_do_update(
        index_elements=["integration_id", "sourced_id"],
        set_={c: statement.excluded[c] for c in columns if c != "sourced_id"},
    )


def _copy_last_read_postgresql(conn, iid: int, mirror, stage, staged, columns, upsert: bool) -> None:  # fmt: skip
    """The last version read of each sourcedId in one sort (DISTINCT ON), in sourcedId
    order so the mirror's unique index grows at its end. Grouping first and sorting
    after took 4.8 s for 375,000 enrollments."""
    last_read = (
        select(stage.c.active, *(stage.c[c] for c in columns))
        .where(staged)
        .ext(distinct_on(stage.c.sourced_id))
        .order_by(stage.c.sourced_id, stage.c.id.desc())
        .subquery()
    )
    source = select(literal(iid), *(last_read.c[c] for c in columns)).where(
        last_read.c.active.is_(True)
    )
    statement = pg_insert(mirror).from_select(["integration_id", *columns], source)
    conn.execute(_upserting(statement, columns) if upsert else statement)
    if upsert:
        gone = select(last_read.c.sourced_id).where(last_read.c.active.is_(False))
        conn.execute(delete(mirror).where(mirror.integration_id == iid, mirror.sourced_id.in_(gone)))  # fmt: skip


def _copy_last_read_sqlite(conn, iid: int, mirror, stage, staged, columns, upsert: bool) -> None:  # fmt: skip
    """The same result, the way SQLite does it cheaply: every active staged row in
    (sourcedId, read) order, the later one read of a duplicated sourcedId replacing
    the earlier (``INSERT OR REPLACE`` into an empty slice, an upsert otherwise), so
    the unique index grows at its end; then the records whose last version read is a
    ``tobedeleted`` one are taken out. Grouping 375,000 staged enrollments by sourcedId
    first took half of the copy's time.
    """
    source = (
        select(literal(iid), *(stage.c[c] for c in columns))
        .where(staged, stage.c.active.is_(True))
        .order_by(stage.c.sourced_id, stage.c.id)
    )
    names = ["integration_id", *columns]
    if upsert:
        conn.execute(_upserting(sqlite_insert(mirror).from_select(names, source), columns))
    else:
        conn.execute(insert(mirror).prefix_with("OR REPLACE").from_select(names, source))
    if conn.scalar(select(stage.c.id).where(staged, stage.c.active.is_(False)).limit(1)) is None:
        return
    deleted_last = (
        select(stage.c.sourced_id)
        .where(staged)
        .group_by(stage.c.sourced_id)
        .having(func.max(stage.c.id) == func.max(case((stage.c.active.is_(False), stage.c.id))))
    )
    conn.execute(
        delete(mirror).where(mirror.integration_id == iid, mirror.sourced_id.in_(deleted_last))
    )


def _holds_any(conn, mirror, iid: int) -> bool:
    return conn.scalar(select(mirror.id).where(mirror.integration_id == iid).limit(1)) is not None
