"""Recompute what School Manager holds from the mirror, inside the apply transaction.

The derived tables (matched users, classrooms, memberships, parent contacts, unmatched
users) are recomputed from the whole mirror and written as a diff against what is
stored, so a delta sync ends where a full sync would, and row ids of unchanged
classrooms and memberships stay put. Memberships (the big table: one row per
enrollment) are computed set-based in SQL through a temporary table, or in a delta only
those the delta may have changed (see ``members``); the rest in Python with dict
lookups. Matching is redone for everybody unless a delta may match only the users it
touched (``rematch``: the directory, the exclusions and the options are as the stored
matches were computed).

The safety threshold (rule 9) is checked here: when more than the allowed share of the
matched users, classrooms or memberships held would go, ``LargeRemoval`` is raised and
the caller rolls the whole transaction back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import bindparam, delete, func, insert, select, true, update

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    DirectoryUser,
    OneRosterIntegration,
    ParentContact,
    SisClass,
    SisEnrollment,
    SisSession,
    SisUser,
    SisUserLink,
    UnmatchedUser,
)
from sisapp.sync.errors import SyncError, SyncErrorCode
from sisapp.sync.matching import (
    MATCHED_ROLES,
    MatchResult,
    SisUserRow,
    match_users_by_email,
    parent_contacts,
)
from sisapp.sync.members import (
    Dirty,
    StagedEnrollments,
    current_clause,
    enrollments_of,
    store_members,
)
from sisapp.sync.rematch import MatchSummary, Rematch, record_basis

# Removing fewer rows than this never trips the threshold (a small school's normal churn).
MIN_REMOVALS_TO_BLOCK = 10
CHUNK = 500


class LargeRemoval(SyncError):
    def __init__(self, message: str) -> None:
        super().__init__(SyncErrorCode.LARGE_REMOVAL, message)


@dataclass
class Removals:
    """What the sync would remove against what was held, for the threshold."""

    held: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)

    def exceeded(self, threshold: float) -> list[str]:
        labels = {
            "users": "matched users",
            "classrooms": "classrooms",
            "memberships": "classroom memberships",
        }
        over = []
        for key, label in labels.items():
            held, removed = self.held[key], self.removed[key]
            if removed >= MIN_REMOVALS_TO_BLOCK and removed > threshold * held:
                over.append(f"{removed} of {held} {label} ({100 * removed / held:.0f}%)")
        return over


@dataclass
class Derived:
    match: MatchResult  # of everybody, or of the users in question of a delta
    summary: MatchSummary | None = None
    imported_classes: int = 0
    parents: int = 0
    parent_skips: Counter = field(default_factory=Counter)
    removals: Removals = field(default_factory=Removals)


def allow_large_removals(integration: OneRosterIntegration) -> None:
    """One-time consent: the next sync may remove more than the safety threshold."""
    integration.allow_large_removals = True
    db.session.commit()


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_current(start: date | None, end: date | None, today: date) -> bool:
    return (start is None or start <= today) and (end is None or end > today)


def recompute(conn, integration, run_id: int, excluded: set[str], schools: dict, today: date,
              *, key: dict, dirty: StagedEnrollments | None = None,
              rematch: Rematch | None = None) -> Derived:  # fmt: skip
    """Recompute and store the derived tables; returns the counts and the removals.

    ``key``: the basis the matches are computed under (``rematch.basis_key``), recorded
    with the counts. ``dirty``: the enrollments a delta staged, when only the
    memberships they touch need a recompute (see ``members``), or None. ``rematch``: the users in question of a delta, when only they need
    matching again (see ``rematch``), or None to match everybody.
    """
    iid = integration.id
    relationship = integration.relationship_type.value if integration.sync_parents else None
    if rematch is not None:
        match, scope = rematch.after_merge(conn, iid), rematch.sids
    else:
        match, scope = _match_everybody(conn, integration, excluded, schools, today), None
    derived = Derived(match=match)
    relinked, relinked_users = _store_links(conn, iid, match, derived.removals, scope)
    _store_unmatched(conn, iid, run_id, match, scope)
    derived.summary = rematch.summary(match) if rematch is not None else MatchSummary.of(match)
    record_basis(integration, key, derived.summary)
    derived.imported_classes, added = _store_classrooms(
        conn, integration, excluded, schools, today, derived.removals
    )
    changed = None
    if dirty is not None:
        # After a rematch only the users in question are in ``match``: the members step
        # reads the stored links of the users it involves.
        links = match.links if rematch is None else None
        changed = Dirty(dirty.pairs, added, relinked, relinked_users, links, dirty.ids)
    _refresh_planner_statistics(conn)
    removed = store_members(conn, integration, excluded, today, changed)
    derived.removals.removed["memberships"] += removed
    if relationship:
        rows, derived.parent_skips = parent_contacts(match, relationship)
        derived.parents = len({row["sis_parent_id"] for row in rows})
    else:
        rows = []
    _store_parents(conn, integration, rows)
    return derived


def _match_everybody(conn, integration, excluded, schools, today) -> MatchResult:
    iid = integration.id
    relationship = integration.relationship_type.value if integration.sync_parents else None
    directory = dict(
        conn.execute(
            select(DirectoryUser.email, DirectoryUser.id).where(
                DirectoryUser.device_id == integration.device_id
            )
        ).all()
    )
    current_students = None
    if integration.respect_enrolment_date:
        current_students = set(
            conn.scalars(
                select(SisEnrollment.user_id)
                .where(
                    enrollments_of(conn, iid),
                    SisEnrollment.school_id.not_in(excluded),
                    current_clause(today),
                )
                .distinct()
            )
        )
    match = match_users_by_email(
        _sis_users(conn, iid, with_parents=bool(relationship)),
        directory,
        excluded_schools=excluded,
        current_students=current_students,
        school_names=schools,
        relationship=relationship,
    )
    if not relationship:  # the other roles were not read: count them for the log
        match.other_roles.update(_other_roles(conn, iid))
    return match


def _other_roles(conn, iid: int) -> dict[str, int]:
    rows = conn.execute(
        select(SisUser.role, func.count())
        .where(SisUser.integration_id == iid, ~_matchable_role())
        .group_by(SisUser.role)
    )
    return {role or "(none)": n for role, n in rows}


def _matchable_role():
    return func.coalesce(SisUser.role, "").in_(MATCHED_ROLES)


def _sis_users(conn, iid: int, with_parents: bool):
    """Mirrored users in SIS order; only students and teachers unless parents are synced."""
    order = SisUser.sourced_id
    if conn.dialect.name == "postgresql":
        order = order.collate("C")  # SIS order is codepoint order, as Python sorts
    columns = [getattr(SisUser, c) for c in ("sourced_id", "role", "enabled", "email")]
    columns += [getattr(SisUser, c) for c in ("given_name", "family_name", "phone")]
    columns += [SisUser.org_ids, SisUser.agent_ids]
    # Streamed (a server-side cursor on PostgreSQL) by an option of this statement only:
    # set on the connection, it would stay for the rest of the apply transaction, and
    # psycopg refuses the executemany of a later bulk insert on a server-side cursor.
    statement = (
        select(*columns)
        .where(SisUser.integration_id == iid, true() if with_parents else _matchable_role())
        .order_by(order)
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(statement):
        yield SisUserRow.from_db(row)


def _store_links(conn, iid: int, match: MatchResult, removals: Removals,
                 scope: list[str] | None) -> tuple[set, set]:  # fmt: skip
    """Store the matches of the users in ``scope`` (None: everybody); returns the
    sourcedIds whose match changed and the directory users of those matches (before
    and after)."""
    columns = (SisUserLink.id, SisUserLink.sis_sourced_id, SisUserLink.directory_user_id, SisUserLink.role)  # fmt: skip
    mine = SisUserLink.integration_id == iid
    if scope is None:
        current = conn.execute(select(*columns).where(mine)).all()
        removals.held["users"] = len(current)
    else:
        current = []
        for chunk in _chunks(scope):
            current += conn.execute(select(*columns).where(mine, SisUserLink.sis_sourced_id.in_(chunk)))  # fmt: skip
        removals.held["users"] = conn.scalar(select(func.count()).where(mine))
    links = match.links
    stale, kept, changed, users = [], set(), set(), set()
    for lid, sid, uid, role in current:
        new = links.get(sid)
        if new is not None and new[0] == uid and new[1] == role:
            kept.add(sid)
            continue
        stale.append(lid)
        changed.add(sid)
        users.add(uid)
        if new is None and sid not in match.excluded_only:
            removals.removed["users"] += 1
    fresh = [
        {"integration_id": iid, "sis_sourced_id": sid, "directory_user_id": uid, "role": role}
        for sid, (uid, role) in links.items()
        if sid not in kept
    ]
    for chunk in _chunks(stale):
        conn.execute(delete(SisUserLink).where(SisUserLink.id.in_(chunk)))
    if fresh:
        conn.execute(insert(SisUserLink), fresh)
    changed.update(row["sis_sourced_id"] for row in fresh)
    users.update(row["directory_user_id"] for row in fresh)
    return changed, users


def _store_unmatched(conn, iid: int, run_id: int, match: MatchResult, scope: list[str] | None) -> None:  # fmt: skip
    """Replace the unmatched rows of the users in ``scope`` (None: everybody)."""
    mine = UnmatchedUser.integration_id == iid
    if scope is None:
        conn.execute(delete(UnmatchedUser).where(mine))
    for chunk in _chunks(scope or []):
        conn.execute(delete(UnmatchedUser).where(mine, UnmatchedUser.sis_sourced_id.in_(chunk)))
    rows = [{"integration_id": iid, "run_id": run_id, **row} for row in match.unmatched]
    for chunk in _chunks(rows, 5000):
        conn.execute(insert(UnmatchedUser), chunk)


def _wanted_classrooms(conn, integration, excluded, schools, today) -> dict[str, dict]:
    if not integration.sync_classes:
        return {}
    sessions = None
    if integration.respect_academic_sessions:
        sessions = {
            sid: _is_current(start, end, today)
            for sid, start, end in conn.execute(
                select(SisSession.sourced_id, SisSession.start_date, SisSession.end_date).where(
                    SisSession.integration_id == integration.id
                )
            )
        }
    wanted = {}
    rows = conn.execute(
        select(
            SisClass.sourced_id,
            SisClass.school_id,
            SisClass.title,
            SisClass.class_code,
            SisClass.term_ids,
        ).where(SisClass.integration_id == integration.id, SisClass.school_id.not_in(excluded))
    )
    for sid, school_id, title, code, terms in rows:
        if sessions is not None and not any(
            sessions.get(t, False) for t in (terms.split("\n") if terms else ())
        ):
            continue
        wanted[sid] = {
            "name": title or code or sid,
            "code": code,
            "school_sourced_id": school_id,
            "school_name": schools.get(school_id),
        }
    return wanted


def _store_classrooms(conn, integration, excluded, schools, today, removals) -> tuple[int, set]:
    """Store the classrooms; returns how many are imported and the new ones' sourcedIds."""
    iid = integration.id
    wanted = _wanted_classrooms(conn, integration, excluded, schools, today)
    fields = ("name", "code", "school_sourced_id", "school_name")
    current = {
        row[1]: row
        for row in conn.execute(
            select(Classroom.id, Classroom.sis_sourced_id, *(getattr(Classroom, f) for f in fields))
            .where(Classroom.integration_id == iid)
        )
    }  # fmt: skip
    mine = ClassroomMember.classroom_id.in_(select(Classroom.id).where(Classroom.integration_id == iid))  # fmt: skip
    removals.held["classrooms"] = len(current)
    removals.held["memberships"] = conn.scalar(select(func.count()).where(mine))
    gone, changed, counted = [], [], []
    for sid, row in current.items():
        cid = row[0]
        if sid not in wanted:
            gone.append(cid)
            deliberate = not integration.sync_classes or row[4] in excluded
            if not deliberate:
                removals.removed["classrooms"] += 1
                counted.append(cid)
        elif tuple(row[2:]) != tuple(wanted[sid][f] for f in fields):
            changed.append({"b_id": cid, **{f"b_{f}": wanted[sid][f] for f in fields}})
    for chunk in _chunks(counted):
        removals.removed["memberships"] += conn.scalar(
            select(func.count()).where(ClassroomMember.classroom_id.in_(chunk))
        )
    for chunk in _chunks(gone):
        conn.execute(delete(ClassroomMember).where(ClassroomMember.classroom_id.in_(chunk)))
        conn.execute(delete(Classroom).where(Classroom.id.in_(chunk)))
    if changed:
        conn.execute(
            update(Classroom.__table__)
            .where(Classroom.__table__.c.id == bindparam("b_id"))
            .values({f: bindparam(f"b_{f}") for f in fields}),
            changed,
        )
    new = [
        {"device_id": integration.device_id, "integration_id": iid, "sis_sourced_id": sid, **v}
        for sid, v in wanted.items()
        if sid not in current
    ]
    for chunk in _chunks(new, 5000):
        conn.execute(insert(Classroom), chunk)
    return len(wanted), {row["sis_sourced_id"] for row in new}


def _store_parents(conn, integration, rows: list[dict]) -> None:
    iid = integration.id
    fields = ("given_name", "family_name", "email", "phone", "relationship")
    current = {
        (row[1], row[2]): row
        for row in conn.execute(
            select(ParentContact.id, ParentContact.student_user_id, ParentContact.sis_parent_id,
                   *(getattr(ParentContact, f) for f in fields))
            .where(ParentContact.integration_id == iid)
        )
    }  # fmt: skip
    wanted = {(r["student_user_id"], r["sis_parent_id"]): r for r in rows}
    stale = {
        row[0]
        for key, row in current.items()
        if key not in wanted or tuple(row[3:]) != tuple(wanted[key][f] for f in fields)
    }
    fresh = [
        {"device_id": integration.device_id, "integration_id": iid, **row}
        for key, row in wanted.items()
        if key not in current or current[key][0] in stale
    ]
    stale = list(stale)
    for chunk in _chunks(stale):
        conn.execute(delete(ParentContact).where(ParentContact.id.in_(chunk)))
    for chunk in _chunks(fresh, 5000):
        conn.execute(insert(ParentContact), chunk)


def _refresh_planner_statistics(conn) -> None:
    """PostgreSQL only: let the planner see the rows this transaction just wrote.

    On a first sync the mirror and link tables were empty when autovacuum last looked,
    so PostgreSQL plans the membership join as a nested loop over a few estimated rows
    and the apply turns quadratic (145 s instead of ~4 s at 20,000 students, see
    docs/performance.md). ANALYZE sees the transaction's own rows. classroom_member is
    left out on purpose: analysed while empty, it makes the following anti-join quadratic.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE sis_enrollment, sis_user_link, classroom")
