"""Derive what School Manager holds from the merged mirror, in the apply transaction.

The derived tables (matched users, classrooms, memberships, parent contacts, unmatched
users) are recomputed from the whole mirror and written as a diff against what is
stored, so a delta sync ends where a full sync would, and row ids of unchanged
classrooms and memberships stay put. Memberships (the big table: one row per
enrollment) are their own step (``memberships``); the rest is done here in Python with
dict lookups. The matches come from ``match`` (everybody, or the users a delta
touched: ``rematch``).

The safety threshold (docs/sync-rules.md rule 9) is measured here: ``Removals`` counts
what would go against what was held, and ``check_removals`` raises ``LargeRemoval``
when more than the allowed share of the matched users, classrooms or memberships would
go; the caller rolls the whole transaction back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import bindparam, delete, func, insert, select, update

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    OneRosterIntegration,
    ParentContact,
    SisClass,
    SisSession,
    SisUserLink,
    UnmatchedUser,
)
from sisapp.models.types import utcnow
from sisapp.sync import changes as why
from sisapp.sync import dialect
from sisapp.sync.batches import ROWS, batched
from sisapp.sync.changes import ChangeSet
from sisapp.sync.errors import SyncError, SyncErrorCode
from sisapp.sync.match import MatchResult, parent_contacts
from sisapp.sync.memberships import Dirty, StagedEnrollments, store_members
from sisapp.sync.rematch import MatchSummary, Rematch, record_basis
from sisapp.sync.stage import STAGE_CLASS

# Removing fewer rows than this never trips the threshold (a small school's normal churn).
MIN_REMOVALS_TO_BLOCK = 10


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
    changes: ChangeSet = field(default_factory=ChangeSet)


def check_removals(removals: Removals, integration: OneRosterIntegration, threshold: float,
                   log) -> None:  # fmt: skip
    """Raise ``LargeRemoval`` when the sync would remove more than ``threshold`` of what
    was held, unless the admin allowed it once (then ``log`` says so)."""
    over = removals.exceeded(threshold)
    if over and not integration.allow_large_removals:
        raise LargeRemoval(
            "This sync would remove "
            + ", ".join(over)
            + f", more than the {threshold:.0%} safety limit, so it was blocked and nothing "
            "was changed. If this is expected, choose 'Allow these removals' (or 'Allow large "
            "removals') on the integration and sync again (it applies to the next sync only)."
        )
    if over:
        log.add("large removals allowed once by the admin: " + ", ".join(over), "warning")


def allow_large_removals(integration: OneRosterIntegration) -> None:
    """One-time consent: the next sync may remove more than the safety threshold."""
    integration.allow_large_removals = True
    db.session.commit()


def _is_current(start: date | None, end: date | None, today: date) -> bool:
    return (start is None or start <= today) and (end is None or end > today)


def recompute(conn, integration, run_id: int, match: MatchResult, excluded: set[str],
              schools: dict, today: date, *, key: dict, dirty: StagedEnrollments | None = None,
              rematch: Rematch | None = None, changes: ChangeSet | None = None) -> Derived:  # fmt: skip
    """Store the derived tables from ``match``; returns the counts and the removals.

    ``key``: the basis the matches are computed under (``rematch.basis_key``), recorded
    with the counts. ``dirty``: the enrollments a delta staged, when only the
    memberships they touch need a recompute (see ``memberships``), or None. ``rematch``:
    the users in question of a delta when only they were matched again, or None.
    """
    iid = integration.id
    relationship = integration.relationship_type.value if integration.sync_parents else None
    scope = rematch.sids if rematch is not None else None
    derived = Derived(match=match, changes=changes or ChangeSet())
    cs = derived.changes
    relinked, relinked_users = _store_links(conn, integration, run_id, match, derived.removals, scope, cs)  # fmt: skip
    _store_unmatched(conn, iid, run_id, match, scope, cs)
    derived.summary = rematch.summary(match) if rematch is not None else MatchSummary.of(match)
    record_basis(integration, key, derived.summary)
    only = _classes_in_question(conn, integration, run_id, dirty, schools)
    derived.imported_classes, added = _store_classrooms(
        conn, integration, excluded, schools, today, derived.removals, cs, only
    )
    changed = None
    if dirty is not None:
        # After a rematch only the users in question are in ``match``: the members step
        # reads the stored links of the users it involves.
        links = match.links if rematch is None else None
        changed = Dirty(dirty.pairs, added, relinked, relinked_users, links, dirty.ids)
    # The membership join is planned on the rows this transaction just wrote.
    # classroom_member is left out on purpose: analysed while empty, it makes the
    # following anti-join quadratic on PostgreSQL. A delta's members step has no join
    # (indexed lookups, see ``memberships``) and the tables keep the statistics of the
    # sync that filled them: analysing the whole mirror cost a 50,000-student delta on
    # PostgreSQL 0.6 s, a tenth of its apply.
    if changed is None:
        dialect.analyze(conn, "sis_enrollment", "sis_user_link", "classroom")
    unlinked = why.unlinked_users(cs)
    removed = store_members(conn, integration, excluded, today, changed, cs, unlinked)
    derived.removals.removed["memberships"] += removed
    if relationship:
        rows, derived.parent_skips = parent_contacts(match, relationship)
        derived.parents = len({row["sis_parent_id"] for row in rows})
    else:
        rows = []
    _store_parents(conn, integration, rows, cs)
    return derived


def _store_links(conn, integration, run_id: int, match: MatchResult, removals: Removals,
                 scope: list[str] | None, cs: ChangeSet) -> tuple[set, set]:  # fmt: skip
    """Store the matches of the users in ``scope`` (None: everybody); returns the
    sourcedIds whose match changed and the directory users of those matches (before
    and after)."""
    iid = integration.id
    columns = (SisUserLink.id, SisUserLink.sis_sourced_id, SisUserLink.directory_user_id, SisUserLink.role)  # fmt: skip
    mine = SisUserLink.integration_id == iid
    if scope is None:
        current = conn.execute(select(*columns).where(mine)).all()
        removals.held["users"] = len(current)
    else:
        current = dialect.rows_among(conn, select(*columns).where(mine), SisUserLink.sis_sourced_id, scope)  # fmt: skip
        removals.held["users"] = conn.scalar(select(func.count()).where(mine))
    links = match.links
    stale, kept, changed, users, gone = [], set(), set(), set(), []
    for lid, sid, uid, role in current:
        new = links.get(sid)
        if new is not None and new[0] == uid and new[1] == role:
            kept.add(sid)
            continue
        stale.append(lid)
        changed.add(sid)
        users.add(uid)
        if new is not None:
            gone.append((sid, uid, role, why.RELINKED))
        elif sid in match.excluded_only:
            gone.append((sid, uid, role, why.EXCLUDED))
        else:
            gone.append((sid, uid, role, None))
            removals.removed["users"] += 1
    fresh = [
        {"integration_id": iid, "sis_sourced_id": sid, "directory_user_id": uid, "role": role}
        for sid, (uid, role) in links.items()
        if sid not in kept
    ]
    dialect.delete_among(conn, delete(SisUserLink), SisUserLink.id, stale)
    dialect.insert_rows(conn, SisUserLink, fresh)
    changed.update(row["sis_sourced_id"] for row in fresh)
    users.update(row["directory_user_id"] for row in fresh)
    why.record_links(conn, integration, run_id, gone, fresh, cs)
    return changed, users


def _store_unmatched(conn, iid: int, run_id: int, match: MatchResult, scope: list[str] | None,
                     cs: ChangeSet) -> None:  # fmt: skip
    """Replace the unmatched rows of the users in ``scope`` (None: everybody)."""
    mine = UnmatchedUser.integration_id == iid
    why.record_unmatched(conn, iid, match, scope, cs)
    if scope is None:
        conn.execute(delete(UnmatchedUser).where(mine))
    dialect.delete_among(conn, delete(UnmatchedUser).where(mine), UnmatchedUser.sis_sourced_id, scope or [])  # fmt: skip
    rows = [{"integration_id": iid, "run_id": run_id, **row} for row in match.unmatched]
    for chunk in batched(rows, ROWS):
        conn.execute(insert(UnmatchedUser), chunk)


def _wanted_classrooms(conn, integration, excluded, schools, today,
                       only: list[str] | None = None) -> dict[str, dict]:  # fmt: skip
    """Classrooms the mirror's classes make, sourcedId -> fields (``only``: of these
    classes, or of every class)."""
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
    columns = (SisClass.sourced_id, SisClass.school_id, SisClass.title, SisClass.class_code,
               SisClass.term_ids)  # fmt: skip
    mine = select(*columns).where(SisClass.integration_id == integration.id,
                                  SisClass.school_id.not_in(excluded))  # fmt: skip
    for sid, school_id, title, code, terms in _rows_of(conn, mine, SisClass.sourced_id, only):
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


def _store_classrooms(conn, integration, excluded, schools, today, removals,
                      cs: ChangeSet, only: list[str] | None = None) -> tuple[int, set]:  # fmt: skip
    """Store the classrooms; returns how many are imported and the new ones' sourcedIds.

    ``only``: the classes a delta staged, when no other classroom can have changed
    (``_classes_in_question``); None compares every classroom with every class.
    """
    iid = integration.id
    wanted = _wanted_classrooms(conn, integration, excluded, schools, today, only)
    fields = ("name", "code", "school_sourced_id", "school_name")
    columns = (Classroom.id, Classroom.sis_sourced_id, *(getattr(Classroom, f) for f in fields))
    mine = select(*columns).where(Classroom.integration_id == iid)
    current = {row[1]: row for row in _rows_of(conn, mine, Classroom.sis_sourced_id, only)}
    if only is None:
        held = len(current)
    else:
        held = conn.scalar(select(func.count()).where(Classroom.integration_id == iid))
    mine = ClassroomMember.classroom_id.in_(select(Classroom.id).where(Classroom.integration_id == iid))  # fmt: skip
    removals.held["classrooms"] = held
    removals.held["memberships"] = conn.scalar(select(func.count()).where(mine))
    gone, changed, counted = [], [], []
    gone_rooms = {sid: row[4] for sid, row in current.items() if sid not in wanted}
    reasons = why.classroom_reasons(conn, integration, excluded, gone_rooms)
    for sid, row in current.items():
        cid = row[0]
        if sid not in wanted:
            gone.append(cid)
            reason = reasons[sid]
            cs.add("classrooms", "removed", row[2], reason)
            if reason not in (why.CLASSES_OFF, why.EXCLUDED):
                removals.removed["classrooms"] += 1
                counted.append(cid)
        elif tuple(row[2:]) != tuple(wanted[sid][f] for f in fields):
            changed.append({"b_id": cid, **{f"b_{f}": wanted[sid][f] for f in fields}})
            if row[2] != wanted[sid]["name"]:
                cs.add("classrooms", "renamed", f"{row[2]} -> {wanted[sid]['name']}")
    held_members = why.members_of_removed(conn, current, gone, reasons, cs)
    for cid in counted:
        removals.removed["memberships"] += held_members.get(cid, 0)
    dialect.delete_among(conn, delete(ClassroomMember), ClassroomMember.classroom_id, gone)
    dialect.delete_among(conn, delete(Classroom), Classroom.id, gone)
    if changed:
        conn.execute(
            update(Classroom.__table__)
            .where(Classroom.__table__.c.id == bindparam("b_id"))
            .values({f: bindparam(f"b_{f}") for f in fields}),
            changed,
        )
    now = utcnow()  # (the model's default, which a COPY does not apply)
    new = [
        {"device_id": integration.device_id, "integration_id": iid, "sis_sourced_id": sid,
         "created_at": now, **v}
        for sid, v in wanted.items()
        if sid not in current
    ]  # fmt: skip
    dialect.insert_rows(conn, Classroom, new)
    for row in new:
        cs.add("classrooms", "added", row["name"])
    imported = len(wanted) if only is None else held - len(gone) + len(new)
    return imported, {row["sis_sourced_id"] for row in new}


def _rows_of(conn, statement, key, only: list[str] | None) -> list:
    """The rows of ``statement``: all of them, or (``only``) those whose ``key`` is one
    of these, asked as ``dialect.among`` cuts them."""
    if only is None:
        return conn.execute(statement).all()
    return dialect.rows_among(conn, statement, key, only)


def _classes_in_question(conn, integration, run_id: int, dirty, schools: dict) -> list[str] | None:  # fmt: skip
    """The classes whose classrooms a delta may have changed, or None for every class.

    With the memberships' own argument (``dirty``: a delta, options unchanged, no school
    read in full or dropped), a classroom depends only on its class's mirrored record,
    its school's name, and, with Respect Academic Sessions, on sessions and the date.
    So without that option, and with no school renamed, only the classes this run
    staged can have changed; every other classroom is as stored.
    """
    if dirty is None or integration.respect_academic_sessions:
        return None
    if _school_renamed(conn, integration.id, schools):
        return None
    staged = select(STAGE_CLASS.c.sourced_id).where(STAGE_CLASS.c.run_id == run_id).distinct()
    return sorted(conn.scalars(staged))


def _school_renamed(conn, iid: int, schools: dict) -> bool:
    """Whether a stored classroom names its school otherwise than the SIS does now."""
    stored = select(Classroom.school_sourced_id, Classroom.school_name).where(
        Classroom.integration_id == iid
    )
    return any(schools.get(sid) != name for sid, name in conn.execute(stored.distinct()))


def _store_parents(conn, integration, rows: list[dict], cs: ChangeSet) -> None:
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
    for key, row in current.items():
        if key not in wanted:
            cs.add("parents", "removed", f"{row[5] or key[1]} (student {key[0]})", why.PARENT_GONE)
    for key, row in wanted.items():
        if key not in current:
            cs.add("parents", "added", f"{row['email'] or key[1]} (student {key[0]})")
    stale = list(stale)
    dialect.delete_among(conn, delete(ParentContact), ParentContact.id, stale)
    for chunk in batched(fresh, ROWS):
        conn.execute(insert(ParentContact), chunk)
