"""Store classroom memberships: the enrollments of matched users in imported classrooms.

The biggest derived table (one row per enrollment), so a full recompute is set-based in
SQL: the wanted pairs go to a temporary table and the stored rows are diffed against it.

A delta sync recomputes only the memberships it may have changed (``Dirty``). A
membership (classroom C, directory user D) is wanted when some mirrored enrollment has
C's class and the SIS user linked to D (a link pairs one SIS user with one directory
user), in a school not excluded. So it can change only when an enrollment of that
(class, SIS user) pair changed (before or after the change: ``pairs``), when C is new
(``classes``; a removed classroom takes its members with it), or when D's link changed
(``users`` and ``directory_users``, both sides of the change). Only the stored rows so
named (``scope``) are diffed, in Python, against the wanted rows so found; every other
row depends on nothing the delta touched, so the result is the same as recomputing
all. When that argument does not hold (a full read, edited options, Respect Enrolment
Date, whose "current" moves with the calendar, a school read in full or dropped)
``dirty`` is None and every classroom is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from sisapp.models import (
    Classroom,
    ClassroomMember,
    OneRosterIntegration,
    SisEnrollment,
    SisUserLink,
)
from sisapp.sync import dialect
from sisapp.sync.batches import ROWS, batched
from sisapp.sync.changes import ChangeSet, record_members
from sisapp.sync.stage import (
    DIRTY_CLASSES,
    DIRTY_TABLES,
    DIRTY_USERS,
    NEW_MEMBERS,
    STAGE_ENROLLMENT,
)


@dataclass
class Dirty:
    """What a delta may have changed, for the membership recompute (see the module)."""

    pairs: set[tuple[str, str]]  # (class sourcedId, user sourcedId)
    classes: set[str] = field(default_factory=set)  # classes of new classrooms
    users: set[str] = field(default_factory=set)  # SIS users whose match changed
    directory_users: set[int] = field(default_factory=set)  # their directory users
    # The matches after this sync, SIS user -> (directory user, role): every one, or
    # None to read those of the users involved from the stored links.
    links: dict[str, tuple[int, str]] | None = None
    staged: Any = None  # a select of the sourcedIds of the enrollments staged


@dataclass
class StagedEnrollments:
    """The enrollments a delta staged: their (class, user) pairs, before and after, and
    a select of their sourcedIds."""

    pairs: set[tuple[str, str]]
    ids: Any


def current_clause(today: date):
    """An enrollment current today: begin empty or on/before, end empty or after."""
    return and_(
        or_(SisEnrollment.begin_date.is_(None), SisEnrollment.begin_date <= today),
        or_(SisEnrollment.end_date.is_(None), SisEnrollment.end_date > today),
    )


def changed_only(integration: OneRosterIntegration, read) -> bool:
    """Whether a delta may recompute only the memberships it touched (see the module):
    not after a full read, edited options, with Respect Enrolment Date, or when a
    school was read in full."""
    return not (
        read.full
        or integration.needs_sync
        or integration.respect_enrolment_date
        or any(read.read_schools.values())
    )


def staged_pairs(conn, iid: int, run_id: int, schools: list[str]) -> StagedEnrollments:
    """(class, user) pairs of the run's staged enrollments and of the mirrored versions
    they replace (read before the merge)."""
    stage = STAGE_ENROLLMENT.c
    staged = and_(stage.run_id == run_id, stage.school_id.in_(schools))
    ids = select(stage.sourced_id).where(staged)
    replaced = select(SisEnrollment.class_id, SisEnrollment.user_id).where(
        SisEnrollment.integration_id == iid, SisEnrollment.sourced_id.in_(ids)
    )
    found = set(map(tuple, conn.execute(replaced)))
    found.update(map(tuple, conn.execute(select(stage.class_id, stage.user_id).where(staged))))
    return StagedEnrollments({(c, u) for c, u in found if c is not None and u is not None}, ids)


def _counted(conn, integration, excluded: set[str], today: date, *, scan: bool = True) -> list:
    """Conditions on the enrollments that make memberships (``scan``: the integration's
    condition written for a scan of the table, see ``enrollments_of``)."""
    iid = integration.id
    conditions = [enrollments_of(conn, iid) if scan else SisEnrollment.integration_id == iid]
    if excluded:  # (an empty NOT IN is still a subquery probed for every row on SQLite)
        conditions.append(SisEnrollment.school_id.not_in(excluded))
    if integration.respect_enrolment_date:
        conditions.append(current_clause(today))
    return conditions


def enrollments_of(conn, iid: int):
    """The integration's enrollments, written for a scan of the table (``dialect.equals_for_scan``)."""
    return dialect.equals_for_scan(conn, SisEnrollment.integration_id, iid)


def _wanted(conn, integration, excluded: set[str], today: date):
    """(classroom id, directory user id, role) of the wanted memberships, in index
    order, as a query whose rows go in with ``_insert_wanted``.

    A pair can come from two enrollments (the same user enrolled twice in a class).
    Its role is the role of the one match its directory user has, so the repeats are
    equal and the unique key drops them (``_insert_wanted``); sorted by role as well,
    the least role would be kept anyway. Grouping the pairs instead took a temporary
    B-tree of every enrollment on SQLite, and a sort plus a hash on PostgreSQL, and
    sorted rows reach the table's unique index in its own order.
    """
    iid = integration.id
    conditions = _counted(conn, integration, excluded, today)
    link = and_(SisUserLink.integration_id == iid, SisUserLink.sis_sourced_id == SisEnrollment.user_id)  # fmt: skip
    room = and_(Classroom.integration_id == iid, Classroom.sis_sourced_id == SisEnrollment.class_id)  # fmt: skip
    columns = (Classroom.id, SisUserLink.directory_user_id, SisUserLink.role)
    return (
        select(*columns)
        .select_from(SisEnrollment)
        .join(SisUserLink, link)
        .join(Classroom, room)
        .where(*conditions)
        .order_by(*columns)
    )


def _insert_wanted(conn, table, source) -> None:
    """Insert ``_wanted`` rows, a repeated pair skipped."""
    names = ["classroom_id", "directory_user_id", "role"]
    dialect.insert_from_select_skipping_repeats(conn, table, names, source)


def store_members(conn, integration, excluded: set[str], today: date, dirty: Dirty | None,
                  cs: ChangeSet | None = None, unlinked: set[int] = frozenset()) -> int:  # fmt: skip
    """Bring the memberships of the integration's classrooms to what the mirror says;
    returns how many were removed (for the safety threshold). What changed goes to
    ``cs`` (members that go because their user's match went: ``unlinked``)."""
    cs = cs if cs is not None else ChangeSet()
    report = {"unlinked": unlinked, "ended": bool(integration.respect_enrolment_date)}
    if dirty is not None:
        return _store_changed_members(conn, integration, excluded, today, dirty, cs, report)
    iid = integration.id
    member, tmp = ClassroomMember.__table__, NEW_MEMBERS
    source = _wanted(conn, integration, excluded, today)
    mine = member.c.classroom_id.in_(select(Classroom.id).where(Classroom.integration_id == iid))
    if conn.scalar(select(member.c.id).where(mine).limit(1)) is None:
        # Nothing to diff against (a first sync, or classes newly turned on): the
        # wanted rows go straight in, without the temporary table and its anti-joins.
        _insert_wanted(conn, member, source)
        added = _count(conn, mine)  # (PostgreSQL's rowcount of INSERT ... SELECT says 0)
        first = conn.execute(select(member.c.classroom_id, member.c.directory_user_id).where(mine).limit(cs.room("memberships"))).all()  # fmt: skip
        record_members(conn, cs, [], first, removed_total=0, added_total=added, **report)
        return 0
    NEW_MEMBERS.drop(conn, checkfirst=True)
    NEW_MEMBERS.create(conn)
    try:
        _insert_wanted(conn, tmp, source)
        pair = and_(
            tmp.c.classroom_id == member.c.classroom_id,
            tmp.c.directory_user_id == member.c.directory_user_id,
        )
        removed = conn.execute(
            delete(member)
            .where(mine, ~exists().where(pair))
            .returning(member.c.classroom_id, member.c.directory_user_id)
        ).all()
        conn.execute(
            update(member)
            .where(mine, exists().where(pair, tmp.c.role != member.c.role))
            .values(role=select(tmp.c.role).where(pair).scalar_subquery())
        )
        fresh = select(tmp.c.classroom_id, tmp.c.directory_user_id, tmp.c.role).where(
            ~exists().where(pair)
        )
        first = conn.execute(fresh.limit(cs.room("memberships"))).all()
        kept = _count(conn, mine)
        conn.execute(
            insert(member).from_select(["classroom_id", "directory_user_id", "role"], fresh)
        )
        added = _count(conn, mine) - kept
        removed = [tuple(r) for r in removed]
        first = [(c, u) for c, u, _ in first]
        record_members(conn, cs, removed, first, removed_total=len(removed),
                       added_total=max(added or 0, 0), **report)  # fmt: skip
        return len(removed)
    finally:
        NEW_MEMBERS.drop(conn, checkfirst=True)


def _count(conn, mine) -> int:
    return conn.scalar(select(func.count()).select_from(ClassroomMember.__table__).where(mine))


def _store_changed_members(conn, integration, excluded, today, dirty: Dirty, cs: ChangeSet,
                           report: dict) -> int:  # fmt: skip
    """The delta path: the few rows in scope are diffed in Python.

    The enrollments involved are found in SQL (``_involved``) and mapped to classrooms
    and matches here; the stored rows are read by an indexed lookup. Joins would leave
    the plan to statistics that the temporary tables (and, right after a full sync, the
    mirror) lack, and PostgreSQL picks slow plans without them.
    """
    rooms = dict(conn.execute(select(Classroom.sis_sourced_id, Classroom.id).where(Classroom.integration_id == integration.id)).all())  # fmt: skip
    links = _Links(conn, integration.id, dirty.links)
    involved = _involved(conn, integration, excluded, today, dirty, links)
    wanted = {}  # (classroom, directory user) -> role, as the full path's query makes them
    for class_id, user_id in involved:
        room, link = rooms.get(class_id), links.get(user_id)
        if room is not None and link is not None:
            wanted[(room, link[0])] = link[1]
    links.load({u for _, u in dirty.pairs})
    scope = set()  # the stored rows the dirty pairs stand for
    for class_id, user_id in dirty.pairs:
        room, link = rooms.get(class_id), links.get(user_id)
        if room is not None and link is not None:
            scope.add((room, link[0]))
    relinked = dirty.directory_users
    users = {uid for _, uid in scope} | relinked | {uid for _, uid in wanted}
    stored = _stored(conn, users, set(rooms.values()))
    gone = sorted(
        mid
        for key, (mid, _) in stored.items()
        if key not in wanted and (key in scope or key[1] in relinked)
    )
    roles = [
        {"b_id": mid, "b_role": wanted[key]}
        for key, (mid, role) in stored.items()
        if key in wanted and wanted[key] != role
    ]
    new = [
        {"classroom_id": cid, "directory_user_id": uid, "role": role}
        for (cid, uid), role in sorted(wanted.items())
        if (cid, uid) not in stored
    ]
    table = ClassroomMember.__table__
    dialect.delete_among(conn, delete(table), table.c.id, gone)
    if roles:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(role=bindparam("b_role")),
            roles,
        )
    for chunk in batched(new, ROWS):
        conn.execute(insert(table), chunk)
    removed = [key for key, (mid, _) in stored.items() if key not in wanted and (key in scope or key[1] in relinked)]  # fmt: skip
    added = [(row["classroom_id"], row["directory_user_id"]) for row in new]
    record_members(conn, cs, removed, added, removed_total=len(removed), added_total=len(added), **report)  # fmt: skip
    return len(gone)


def _involved(conn, integration, excluded, today, dirty: Dirty, links: _Links) -> list:
    """(class, user) of counted enrollments enough to decide every membership in scope.

    - A dirty pair that a staged enrollment holds after the merge is wanted: that
      enrollment, looked up by its sourcedId, says so (no other one is needed).
    - A dirty pair none holds any more (an enrollment moved or deleted) is wanted only
      if another enrollment has it: these are *lost* pairs.
    - A SIS user whose match changed and who is matched now brings all its enrollments;
      one matched no more brings none (its memberships go with its old directory user).
    - A new classroom brings all the enrollments of its class.

    sis_enrollment has no index on class_id or user_id (it would slow every full sync's
    inserts), so the last three need a scan of the integration's enrollments, probing
    the users and classes in temporary tables; a delta with none of them needs no scan.
    """
    held = [
        (c, u)
        for c, u in conn.execute(
            select(SisEnrollment.class_id, SisEnrollment.user_id).where(
                *_counted(conn, integration, excluded, today, scan=False),
                SisEnrollment.sourced_id.in_(dirty.staged),
            )
        )
        if c is not None and u is not None  # (a SIS may leave either out)
    ]
    lost = dirty.pairs - set(held)
    links.load({u for _, u in held} | dirty.users)
    matched_now = {u for u in dirty.users if links.get(u)}
    probed = {u for _, u in lost} | matched_now
    if not probed and not dirty.classes:
        return held
    for table in DIRTY_TABLES:
        table.drop(conn, checkfirst=True)
        table.create(conn)
    try:
        for table, ids in ((DIRTY_CLASSES, dirty.classes), (DIRTY_USERS, probed)):
            rows = [{"sis_id": sid} for sid in sorted(ids)]
            for chunk in batched(rows, ROWS):
                conn.execute(insert(table), chunk)
        involved = or_(
            SisEnrollment.class_id.in_(select(DIRTY_CLASSES.c.sis_id)),
            SisEnrollment.user_id.in_(select(DIRTY_USERS.c.sis_id)),
        )
        conditions = _counted(conn, integration, excluded, today)
        found = [
            (c, u)
            for c, u in conn.execute(
                select(SisEnrollment.class_id, SisEnrollment.user_id).where(*conditions, involved)
            )
            if u in matched_now or c in dirty.classes or (c, u) in lost
        ]
    finally:
        for table in DIRTY_TABLES:
            table.drop(conn, checkfirst=True)
    links.load({u for _, u in found})
    return held + found


class _Links:
    """The matches the members step needs: every one when the caller has them, or
    those of the SIS users asked for, read from the stored links as needed."""

    def __init__(self, conn, iid: int, every: dict | None) -> None:
        self.conn, self.iid = conn, iid
        self.complete = every is not None
        self.found: dict[str, tuple[int, str]] = every if every is not None else {}
        self.asked: set[str] = set()

    def load(self, users: set[str | None]) -> None:
        if self.complete:
            return
        missing = {u for u in users if u is not None} - self.asked
        self.asked |= missing
        self.found.update(_links_of(self.conn, self.iid, missing))

    def get(self, user: str) -> tuple[int, str] | None:
        return self.found.get(user)


def _links_of(conn, iid: int, users: set[str]) -> dict[str, tuple[int, str]]:
    """The stored matches of these SIS users (looked up by the link table's key)."""
    link = SisUserLink
    statement = select(link.sis_sourced_id, link.directory_user_id, link.role).where(
        link.integration_id == iid
    )
    rows = dialect.rows_among(conn, statement, link.sis_sourced_id, sorted(users))
    return {sid: (uid, role) for sid, uid, role in rows}


def _stored(conn, users: set[int], mine: set[int]) -> dict:
    """Stored memberships of these directory users in the integration's classrooms
    (``mine``): (classroom, user) -> (row id, role). Read by user (indexed) and filtered
    here: with the classroom condition too, or by (classroom, user) pairs, SQLite scans
    every membership."""
    member = ClassroomMember
    statement = select(member.id, member.classroom_id, member.directory_user_id, member.role)
    rows = dialect.rows_among(conn, statement, member.directory_user_id, sorted(users))
    return {(cid, uid): (mid, role) for mid, cid, uid, role in rows if cid in mine}
