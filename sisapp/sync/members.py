"""Classroom memberships: enrollments of matched users in imported classrooms.

The biggest derived table (one row per enrollment), so it is computed set-based in SQL:
the wanted pairs go to a temporary table and the stored rows are diffed against it.

A delta sync recomputes only the classrooms it may have changed (``dirty``): classes
of changed enrollments (before and after the change), new classrooms, and classes of
users whose match changed. Everything else depends on nothing the delta touched, so
the result is the same as recomputing all; when that argument does not hold (a full
read, edited options, Respect Enrolment Date, whose "current" moves with the calendar,
a school read in full or dropped) ``dirty`` is None and every classroom is recomputed.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from sisapp.models import Classroom, ClassroomMember, SisEnrollment, SisStageEnrollment, SisUserLink

CHUNK = 500
_tmp = MetaData()
NEW_MEMBERS = Table(
    "sync_new_member",
    _tmp,
    Column("classroom_id", Integer, nullable=False),
    Column("directory_user_id", Integer, nullable=False),
    Column("role", String(10)),
    PrimaryKeyConstraint("classroom_id", "directory_user_id"),
    prefixes=["TEMPORARY"],
)
DIRTY = Table(
    "sync_dirty_class",
    _tmp,
    Column("sis_id", String(255), primary_key=True),
    prefixes=["TEMPORARY"],
)


def current_clause(today: date):
    """An enrollment current today: begin empty or on/before, end empty or after."""
    return and_(
        or_(SisEnrollment.begin_date.is_(None), SisEnrollment.begin_date <= today),
        or_(SisEnrollment.end_date.is_(None), SisEnrollment.end_date > today),
    )


def staged_classes(conn, iid: int, run_id: int, schools: list[str]) -> set[str]:
    """Classes of the run's staged enrollments and of the mirrored versions they replace."""
    staged = select(SisStageEnrollment.sourced_id).where(
        SisStageEnrollment.run_id == run_id, SisStageEnrollment.school_id.in_(schools)
    )
    found = set(
        conn.scalars(
            select(SisEnrollment.class_id)
            .where(SisEnrollment.integration_id == iid, SisEnrollment.sourced_id.in_(staged))
            .distinct()
        )
    )
    found.update(
        conn.scalars(
            select(SisStageEnrollment.class_id)
            .where(SisStageEnrollment.run_id == run_id, SisStageEnrollment.school_id.in_(schools))
            .distinct()
        )
    )
    found.discard(None)
    return found


def classes_of_users(conn, iid: int, user_ids: set[str]) -> set[str]:
    found: set[str] = set()
    ids = sorted(user_ids)
    for start in range(0, len(ids), CHUNK):
        found.update(
            conn.scalars(
                select(SisEnrollment.class_id)
                .where(
                    SisEnrollment.integration_id == iid,
                    SisEnrollment.user_id.in_(ids[start : start + CHUNK]),
                )
                .distinct()
            )
        )
    found.discard(None)
    return found


def _mark_dirty(conn, class_ids: set[str]) -> None:
    DIRTY.drop(conn, checkfirst=True)
    DIRTY.create(conn)
    if class_ids:
        conn.execute(insert(DIRTY), [{"sis_id": sid} for sid in sorted(class_ids)])


def store_members(
    conn, integration, excluded: set[str], today: date, dirty: set[str] | None
) -> int:
    """Bring the memberships of the integration's classrooms to what the mirror says;
    returns how many were removed (for the safety threshold)."""
    iid = integration.id
    member, tmp = ClassroomMember.__table__, NEW_MEMBERS
    scope = select(Classroom.id).where(Classroom.integration_id == iid)
    if dirty is not None:
        # Enrollments are scanned once and filtered by class: sis_enrollment has no
        # index on class_id (it would slow every full sync's inserts).
        _mark_dirty(conn, dirty)
        scope = scope.where(Classroom.sis_sourced_id.in_(select(DIRTY.c.sis_id)))
    NEW_MEMBERS.drop(conn, checkfirst=True)
    NEW_MEMBERS.create(conn)
    try:
        conditions = [SisEnrollment.integration_id == iid, SisEnrollment.school_id.not_in(excluded)]
        if integration.respect_enrolment_date:
            conditions.append(current_clause(today))
        if dirty is not None:
            conditions.append(SisEnrollment.class_id.in_(select(DIRTY.c.sis_id)))
        link = and_(SisUserLink.integration_id == iid, SisUserLink.sis_sourced_id == SisEnrollment.user_id)  # fmt: skip
        room = and_(Classroom.integration_id == iid, Classroom.sis_sourced_id == SisEnrollment.class_id)  # fmt: skip
        source = (
            select(Classroom.id, SisUserLink.directory_user_id, func.min(SisUserLink.role))
            .select_from(SisEnrollment)
            .join(SisUserLink, link)
            .join(Classroom, room)
            .where(*conditions)
            .group_by(Classroom.id, SisUserLink.directory_user_id)
        )
        conn.execute(insert(tmp).from_select(["classroom_id", "directory_user_id", "role"], source))
        pair = and_(
            tmp.c.classroom_id == member.c.classroom_id,
            tmp.c.directory_user_id == member.c.directory_user_id,
        )
        mine = member.c.classroom_id.in_(scope)
        removed = conn.execute(delete(member).where(mine, ~exists().where(pair))).rowcount
        conn.execute(
            update(member)
            .where(mine, exists().where(pair, tmp.c.role != member.c.role))
            .values(role=select(tmp.c.role).where(pair).scalar_subquery())
        )
        conn.execute(
            insert(member).from_select(
                ["classroom_id", "directory_user_id", "role"],
                select(tmp.c.classroom_id, tmp.c.directory_user_id, tmp.c.role).where(
                    ~exists().where(pair)
                ),
            )
        )
        return max(removed or 0, 0)
    finally:
        NEW_MEMBERS.drop(conn, checkfirst=True)
        DIRTY.drop(conn, checkfirst=True)
