"""Expected Sync Details counts, computed from the generated records alone.

This module restates the sync's rules (docs/sync-rules.md rules 1-5) in the simplest code
that can express them and imports nothing from the sync engine, so a test comparing the
two catches a bug in either. Keep it boring: a clever shortcut here would hide the very
mistakes it checks.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

from .district import normalise_email

PARENT_CHOICES = (None, "parent", "guardian", "relative")


def _is_true(value) -> bool:
    """OneRoster booleans arrive as JSON booleans, strings or 0/1."""
    return value is True or value == 1 or (isinstance(value, str) and value.lower() == "true")


def _active(record) -> bool:
    return record.get("status") == "active"


def _enabled(user) -> bool:
    return _active(user) and _is_true(user.get("enabledUser", True))


def _is_current(start, end, today: date) -> bool:
    """Begin inclusive, end exclusive; missing, null or empty dates are open."""
    today_iso = today.isoformat()
    return (not start or start[:10] <= today_iso) and (not end or end[:10] > today_iso)


def expected_counts(
    district,
    classes: bool = True,
    respect_enrolment_date: bool = False,
    respect_academic_sessions: bool = False,
    parents: str | None = None,
    excluded_schools=(),
) -> dict[str, int]:
    """Counts a correct sync of ``district`` with these options must report."""
    excluded = set(excluded_schools)
    today = district.today
    directory = district.directory_emails()

    current_students: set[str] = set()
    if respect_enrolment_date:
        for e in district.enrollments:
            if (
                _active(e)
                and e["school"]["sourcedId"] not in excluded
                and _is_current(e.get("beginDate"), e.get("endDate"), today)
            ):
                current_students.add(e["user"]["sourcedId"])

    counts = {"unmatched_users": 0, "matched_students": 0, "matched_teachers": 0}
    claimed: set[str] = set()
    matched_students: set[str] = set()
    for user in district.users:  # already in sourcedId order, as /users serves them
        role = user.get("role")
        if role not in ("student", "teacher") or not _enabled(user):
            continue
        if not any(org["sourcedId"] not in excluded for org in user.get("orgs", [])):
            continue
        if (
            role == "student"
            and respect_enrolment_date
            and user["sourcedId"] not in current_students
        ):
            continue
        email = normalise_email(user.get("email"))
        if not email or email not in directory:
            counts["unmatched_users"] += 1
        elif email in claimed:
            continue  # a duplicate: logged, neither matched nor unmatched
        else:
            claimed.add(email)
            counts[f"matched_{role}s"] += 1
            if role == "student":
                matched_students.add(user["sourcedId"])

    counts["imported_classes"] = 0
    if classes:
        sessions = {s["sourcedId"]: s for s in district.academic_sessions}
        for cls in district.classes:
            if not _active(cls) or cls["school"]["sourcedId"] in excluded:
                continue
            if respect_academic_sessions and not any(
                _is_current(
                    sessions[t["sourcedId"]]["startDate"],
                    sessions[t["sourcedId"]]["endDate"],
                    today,
                )
                for t in cls.get("terms", [])
                if t["sourcedId"] in sessions
            ):
                continue
            counts["imported_classes"] += 1

    counts["parents"] = 0
    if parents:
        linked: set[str] = set()
        for user in district.users:
            agent_ids = {a["sourcedId"] for a in user.get("agents", [])}
            if user["sourcedId"] in matched_students:
                linked |= agent_ids  # the student names them
            elif agent_ids & matched_students:
                linked.add(user["sourcedId"])  # they name the student
        for user in district.users:
            if (
                user["sourcedId"] in linked
                and _enabled(user)
                and user.get("role") == parents
                and normalise_email(user.get("email"))
            ):
                counts["parents"] += 1
    return counts


def option_key(
    classes: bool, respect_enrolment_date: bool, respect_academic_sessions: bool, parents
) -> str:
    """Readable key of one option combination, used in the expected JSON file."""
    on = {True: "on", False: "off"}
    return (
        f"classes={on[classes]},respect_enrolment_date={on[respect_enrolment_date]},"
        f"respect_academic_sessions={on[respect_academic_sessions]},parents={parents or 'none'}"
    )


def all_expected(district) -> dict:
    """Expected counts for every option combination (no schools excluded)."""
    combos = {}
    for classes, enrol, sessions, parents in itertools.product(
        (True, False), (False, True), (False, True), PARENT_CHOICES
    ):
        combos[option_key(classes, enrol, sessions, parents)] = expected_counts(
            district, classes, enrol, sessions, parents
        )
    spec = district.spec
    return {
        "seed": spec.seed,
        "schools": spec.schools,
        "students": spec.students,
        "today": district.today.isoformat(),
        "revision": district.revision,
        "key_format": option_key(True, False, False, None),
        "counts": combos,
    }


def write_expected_json(district, path) -> None:
    """Write ``all_expected`` to ``path`` (parents directories created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(all_expected(district), indent=2) + "\n", encoding="utf-8")
