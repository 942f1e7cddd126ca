"""Merge a run's staged records into the integration's SIS mirror, in the apply transaction.

Full reads replace: users and sessions wholesale, classes and enrollments school by
school. Delta reads merge: a staged record replaces the mirrored one with its sourcedId,
and a staged ``tobedeleted`` record removes it. Staged duplicates (a record served on
two pages while the SIS changed under the read) collapse to the last one read.

Schools excluded, gone from the SIS, or not read because neither classes nor enrollment
dates are synced lose their slice and their ``slice_read_at``, so reading them again
starts with a full read of that school; a school that failed keeps both.

Where other writers can go on meanwhile (PostgreSQL), a full read's users and school
slices are merged while the read goes on (``MergeWhileReading``), in the transaction the
apply then finishes and commits: the same statements, school by school, so the result
is the one merge of the whole read would give.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from sisapp.models import (
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
)
from sisapp.sync import dialect
from sisapp.sync.read import ReadResult
from sisapp.sync.stage import MIRROR_COLUMNS, STAGE_CLASS, STAGE_ENROLLMENT, STAGE_USER, clean
from sisapp.sync.stage_writer import StageSink


class MergeWhileReading:
    """A full read's merge of users and school slices, run by the staging writer as each
    is wholly staged, while the read goes on (a ``read.StagedHook``).

    The apply's work on the mirror then overlaps the download instead of following it.
    The writer commits nothing from the first merge on (``StageSink.hold``), so the merges
    are part of the apply's one transaction: a failed or cancelled run rolls them back
    with the rest. Only where the apply's transaction does not keep other writers out
    (``dialect.merges_while_reading``): on SQLite it would hold the database's write lock
    for the whole read.
    """

    def __init__(self, iid: int, run_id: int) -> None:
        self.iid, self.run_id = iid, run_id
        self.users = False
        self.schools: set[str] = set()
        self._after = {STAGE_CLASS: 0, STAGE_ENROLLMENT: 0}  # staging ids merged or passed

    def users_staged(self, sink: StageSink) -> None:
        sink.hold()
        sink.put(lambda _cursor: self._merge_users(sink.connection))

    def school_staged(self, sink: StageSink, school_id: str) -> None:
        sink.hold()
        sink.put(lambda _cursor: self._merge_school(sink.connection, school_id))

    def _merge_users(self, conn) -> None:
        _merge_staged(conn, self.iid, self.run_id, SisUser, STAGE_USER, replace_all=True)
        self.users = True

    def _merge_school(self, conn, school_id: str) -> None:
        """The school's slice replaced by its staged rows: those staged since the last
        merge (rosters are read and staged one school after another), found by the
        staging table's key instead of a scan of every row staged so far."""
        for mirror, stage in ((SisClass, STAGE_CLASS), (SisEnrollment, STAGE_ENROLLMENT)):
            top = conn.scalar(select(func.max(stage.c.id))) or 0
            where = mirror.integration_id == self.iid
            conn.execute(delete(mirror).where(where, mirror.school_id == school_id))
            since_last = stage.c.id.between(self._after[stage] + 1, top)
            _merge_staged(conn, self.iid, self.run_id, mirror, stage, schools=[school_id],
                          among=since_last)  # fmt: skip
            self._after[stage] = top
        self.schools.add(school_id)


def merge_mirror(conn, integration, run_id: int, read: ReadResult, excluded: set[str],
                 merged: MergeWhileReading | None = None) -> bool:  # fmt: skip
    """Bring the mirror to what the SIS holds now (except failed schools' slices); what
    ``merged`` merged while reading is not merged again.

    Returns whether whole school slices were dropped (excluded, gone, or not read).
    """
    iid = integration.id
    _merge_orgs(conn, iid, read, excluded)
    _merge_sessions(conn, iid, read)
    if not (merged and merged.users):
        _merge_staged(conn, iid, run_id, SisUser, STAGE_USER, replace_all=read.full)
    school_ids = {s.sourced_id for s in read.schools}
    dropped = (
        [sid for sid in _mirrored_slices(conn, iid) if sid not in school_ids or sid in excluded]
        if read.roster_read
        else None  # every slice
    )
    dropped_any = dropped is None or bool(dropped)
    done = merged.schools if merged else set()
    full_schools = [sid for sid, full in read.read_schools.items() if full and sid not in done]
    read_schools = [sid for sid in read.read_schools if sid not in done]
    for mirror, stage in ((SisClass, STAGE_CLASS), (SisEnrollment, STAGE_ENROLLMENT)):
        where = mirror.integration_id == iid
        if dropped is None:
            conn.execute(delete(mirror).where(where))
        elif dropped or full_schools:
            conn.execute(delete(mirror).where(where, mirror.school_id.in_(dropped + full_schools)))
        if read_schools:
            _merge_staged(conn, iid, run_id, mirror, stage, schools=read_schools)
    return dropped_any


def _mirrored_slices(conn, iid: int) -> set[str]:
    """Schools that have classes or enrollments in the mirror."""
    found = set()
    for model in (SisClass, SisEnrollment):
        found.update(_distinct(conn, model.school_id, model.integration_id == iid))
    return found


def _distinct(conn, column, where) -> list:
    """The distinct values of ``column`` among the rows ``where`` picks, by a walk of an
    index on (where's column, ``column``): each step asks for the least value above the
    last one (a recursive query), so 25 schools cost 26 index probes. ``SELECT DISTINCT``
    read every one of 373,000 enrollments (80 ms on PostgreSQL) in each delta."""
    step = select(func.min(column).label("value")).where(where)
    walk = step.cte("walk", recursive=True)
    after = select(func.min(column)).where(where, column > walk.c.value).scalar_subquery()
    walk = walk.union_all(select(after).where(walk.c.value.is_not(None)))
    return list(conn.scalars(select(walk.c.value).where(walk.c.value.is_not(None))))


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
        dialect.delete_among(conn, delete(SisSession).where(where), SisSession.sourced_id, ids)
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
    *,
    replace_all: bool = False,
    schools: list[str] | None = None,
    among=None,
) -> None:
    """Bring the mirrored records to their staged versions: the last version read of
    each sourcedId is written, and removed when it is a ``tobedeleted`` one.

    Into an empty slice (a full read: ``replace_all``, or the schools read in full,
    deleted by the caller) the rows are appended. Into a mirror that holds rows (a
    delta) they are upserted, so a changed record is rewritten where it lies and its
    index entries stay (the sourcedId and usually the school do not change): far fewer
    pages written than a delete and an insert, in the commit that ends a small delta.
    ``among``: a further condition on the staged rows.
    """
    staged = stage.c.run_id == run_id
    if schools is not None:
        staged = staged & stage.c.school_id.in_(schools)
    if among is not None:
        staged = staged & among
    if replace_all:
        conn.execute(delete(mirror).where(mirror.integration_id == iid))
    upsert = not replace_all and _holds_any(conn, mirror, iid)
    dialect.copy_last_read(conn, iid, mirror, stage, staged, MIRROR_COLUMNS[mirror], upsert)


def _holds_any(conn, mirror, iid: int) -> bool:
    return conn.scalar(select(mirror.id).where(mirror.integration_id == iid).limit(1)) is not None
