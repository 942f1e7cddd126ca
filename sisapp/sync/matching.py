"""Matching SIS users to the device's directory users (issue 5, rules 2, 3 and 5).

Pure functions over rows already read from the mirror, in SIS order (sourcedId order),
so the rules can be read in one place and tested without a database:

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
from collections.abc import Iterable
from dataclasses import dataclass, field

MATCHED_ROLES = ("student", "teacher")
PARENT_ROLES = ("parent", "guardian", "relative")
MAX_LOGGED_DUPLICATES = 20


@dataclass(slots=True)
class SisUserRow:
    """The columns of a mirrored SIS user the rules need."""

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
