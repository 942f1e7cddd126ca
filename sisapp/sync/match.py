"""Match SIS users to the device's directory users (docs/sync-rules.md rules 2, 3 and 5).

The rules are pure functions over rows already read from the mirror, in SIS order
(sourcedId order), so they can be read in one place and tested without a database;
``match_users`` reads their input from the merged mirror:

- only SIS ``student`` and ``teacher`` users match; other roles are counted for the log;
- disabled users are skipped (``tobedeleted`` ones never reach the mirror), and so are
  users in no school left after the exclusions;
- with Respect Enrolment Date, a student without a current enrollment is left out;
- the email, trimmed and lowercased, is looked up among the directory users of the
  device whatever their kind; no email or an unknown one makes an Unmatched User;
- the first SIS user with an email claims it; later ones are logged as duplicates;
- parents: users with the chosen relationship role and an email, linked by ``agents``
  (from either side) to a matched student.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select, true

from sisapp.models import DirectoryUser, OneRosterIntegration, SisEnrollment, SisUser
from sisapp.sync import dialect
from sisapp.sync.memberships import current_clause, enrollments_of
from sisapp.sync.stage import USER_COLUMNS

MATCHED_ROLES = ("student", "teacher")
PARENT_ROLES = ("parent", "guardian", "relative")
MAX_LOGGED_DUPLICATES = 20


@dataclass(slots=True)
class SisUserRow:
    """A mirrored SIS user: its columns in ``stage.USER_COLUMNS`` order."""

    sourced_id: str
    role: str | None
    enabled: bool
    email: str
    given_name: str | None
    family_name: str | None
    phone: str | None
    org_ids: tuple[str, ...]
    agent_ids: tuple[str, ...]

    @classmethod
    def from_db(cls, row) -> SisUserRow:
        sid, role, enabled, email, given, family, phone, orgs, agents = row
        return cls(
            sid,
            role,
            bool(enabled),
            email or "",
            given,
            family,
            phone,
            tuple(orgs.split("\n")) if orgs else (),
            tuple(agents.split("\n")) if agents else (),
        )

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


@dataclass
class MatchResult:
    links: dict[str, tuple[int, str]] = field(default_factory=dict)  # sid -> (user id, role)
    unmatched: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    other_roles: Counter = field(default_factory=Counter)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (sid, email, first)
    duplicate_count: int = 0
    # sourcedIds of matched students or teachers whose schools are all excluded now:
    # their removal is the admin's choice, not a bad pull (see the safety threshold).
    excluded_only: set[str] = field(default_factory=set)
    parents: dict[str, SisUserRow] = field(default_factory=dict)  # candidates by sid
    parent_like: dict[str, tuple[str | None, bool, bool]] = field(default_factory=dict)
    student_agents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def matched_students(self) -> int:
        return sum(1 for _, role in self.links.values() if role == "student")

    @property
    def matched_teachers(self) -> int:
        return sum(1 for _, role in self.links.values() if role == "teacher")


def match_users_by_email(
    users: Iterable[SisUserRow],
    directory: dict[str, int],
    *,
    excluded_schools: set[str],
    current_students: set[str] | None,
    school_names: dict[str, str],
    relationship: str | None,
) -> MatchResult:
    """Apply the matching rules to ``users`` (in SIS order); see the module docstring.

    ``current_students`` is None unless Respect Enrolment Date is on; ``relationship``
    is the parent role to sync, or None when Sync Parent Data is off.
    """
    result = MatchResult()
    claimed: dict[str, str] = {}
    for user in users:
        role = user.role
        if relationship and (role in PARENT_ROLES or not role):
            result.parent_like[user.sourced_id] = (role, user.enabled, bool(user.email))
            if role == relationship and user.enabled and user.email:
                result.parents[user.sourced_id] = user
        if role not in MATCHED_ROLES:
            result.other_roles[role or "(none)"] += 1
            continue
        if not user.enabled:
            result.skipped["disabled"] += 1
            continue
        if not any(org not in excluded_schools for org in user.org_ids):
            result.skipped["excluded or no school"] += 1
            if user.org_ids:
                result.excluded_only.add(user.sourced_id)
            continue
        left = current_students is not None and user.sourced_id not in current_students
        if role == "student" and left:
            result.skipped["no current enrollment"] += 1
            continue
        email = user.email
        user_id = directory.get(email) if email else None
        if user_id is None:
            result.unmatched.append(_unmatched(user, excluded_schools, school_names))
            continue
        first = claimed.get(email)
        if first is not None:
            result.duplicate_count += 1
            if len(result.duplicates) < MAX_LOGGED_DUPLICATES:
                result.duplicates.append((user.sourced_id, email, first))
            continue
        claimed[email] = user.sourced_id
        result.links[user.sourced_id] = (user_id, role)
        if role == "student" and relationship and user.agent_ids:
            result.student_agents[user.sourced_id] = user.agent_ids
    return result


def _unmatched(user: SisUserRow, excluded: set[str], school_names: dict[str, str]) -> dict:
    schools = [o for o in user.org_ids if o not in excluded and o in school_names]
    return {
        "sis_sourced_id": user.sourced_id,
        "name": user.name[:511],
        "role": user.role,
        "email": user.email or None,
        "school_name": (school_names[schools[0]] if schools else None),
    }


def parent_contacts(result: MatchResult, relationship: str) -> tuple[list[dict], Counter]:
    """Contact rows (one per matched student and parent) and the skip counts for the log."""
    matched_students = {sid: uid for sid, (uid, role) in result.links.items() if role == "student"}
    pairs: set[tuple[str, str]] = set()
    for student, agents in result.student_agents.items():
        for agent in agents:
            pairs.add((student, agent))
    named_by_parent = set()
    for sid, parent in result.parents.items():
        for agent in parent.agent_ids:
            if agent in matched_students:
                pairs.add((agent, sid))
                named_by_parent.add(sid)
    rows, skipped, linked = [], Counter(), set()
    for student, agent in sorted(pairs):
        parent = result.parents.get(agent)
        if parent is None:
            continue
        linked.add(agent)
        rows.append(
            {
                "student_user_id": matched_students[student],
                "sis_parent_id": agent,
                "given_name": parent.given_name,
                "family_name": parent.family_name,
                "email": parent.email,
                "phone": parent.phone,
                "relationship": relationship,
            }
        )
    for agent in {a for _, a in pairs} - linked:
        role, enabled, has_email = result.parent_like.get(agent, ("?", True, True))
        if role == "?":
            continue  # a student's agent that is not a parent-like user (or unknown)
        if role != relationship:
            skipped["another relationship role" if role else "no relationship role"] += 1
        elif not enabled:
            skipped["disabled"] += 1
        elif not has_email:
            skipped["no email"] += 1
    skipped["not linked to a matched student"] = len(set(result.parents) - linked)
    return rows, skipped


# --- the rules applied to the mirror ---------------------------------------------------


def match_users(conn, integration: OneRosterIntegration, excluded: set[str], schools: dict,
                today: date, rematch=None) -> MatchResult:  # fmt: skip
    """The rules applied to the merged mirror: to everybody, or in a delta to the users
    in question only (``rematch.Rematch``, when the stored matches allow it)."""
    if rematch is not None:
        return rematch.after_merge(conn, integration.id)
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


def _sis_users(conn, iid: int, with_parents: bool) -> Iterator[SisUserRow]:
    """Mirrored users in SIS order; only students and teachers unless parents are synced."""
    columns = [getattr(SisUser, c) for c in USER_COLUMNS]
    # Streamed (a server-side cursor on PostgreSQL) by an option of this statement only:
    # set on the connection, it would stay for the rest of the apply transaction, and
    # psycopg refuses the executemany of a later bulk insert on a server-side cursor.
    statement = (
        select(*columns)
        .where(SisUser.integration_id == iid, true() if with_parents else _matchable_role())
        .order_by(dialect.codepoint_order(conn, SisUser.sourced_id))
        .execution_options(yield_per=2000)
    )
    for row in conn.execute(statement):
        yield SisUserRow.from_db(row)
