"""OneRoster ``filter`` parameter: ``field<op>'value'`` clauses joined by AND / OR.

Only what clients send in practice is supported: one kind of logical operator per filter
(AND binds tighter if both appear), dotted paths into GUIDRefs
(``school.sourcedId='X'``), and instants compared as instants, not as strings, so
``2026-01-01T00:00:00Z`` and ``2026-01-01T00:00:00.000Z`` are the same moment.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

_CLAUSE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|>=|<=|=|>|<|~)\s*'(.*)'\s*$", re.S)
COMMON = {"sourcedId", "status", "dateLastModified", "metadata"}
FIELDS = {
    "orgs": {"name", "type", "identifier", "parent", "children"},
    "academicSessions": {
        "title",
        "type",
        "startDate",
        "endDate",
        "parent",
        "children",
        "schoolYear",
    },
    "courses": {"title", "schoolYear", "courseCode", "grades", "subjects", "org"},
    "classes": {
        "title",
        "classCode",
        "classType",
        "location",
        "grades",
        "subjects",
        "course",
        "school",
        "terms",
        "periods",
    },
    "users": {
        "username",
        "enabledUser",
        "givenName",
        "familyName",
        "middleName",
        "role",
        "identifier",
        "email",
        "sms",
        "phone",
        "agents",
        "orgs",
        "grades",
    },
    "enrollments": {"user", "class", "school", "role", "primary", "beginDate", "endDate"},
}
#: v1.2 user fields, evaluated on the v1.1-shaped record the server keeps.
_ALIASES = {
    "roles.role": "role",
    "roles.org.sourcedId": "orgs.sourcedId",
    "primaryOrg.sourcedId": "orgs.sourcedId",
}
_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "~": lambda a, b: b.lower() in a.lower(),
}


class FilterError(ValueError):
    """A filter the server refuses; ``minor`` is the OneRoster code minor to answer."""

    def __init__(self, message: str, minor: str = "invalid_filter_field"):
        super().__init__(message)
        self.minor = minor


@lru_cache(maxsize=4096)
def instant(text: str) -> str:
    """Canonical sortable UTC form of an ISO date-time (naive means UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"not a date-time: {text!r}", "invalid_selection_field") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def _values(record: dict, path: list[str]) -> list:
    values = [record]
    for part in path:
        nxt = []
        for value in values:
            if isinstance(value, list):
                nxt.extend(v.get(part) for v in value if isinstance(v, dict))
            elif isinstance(value, dict):
                nxt.append(value.get(part))
        values = nxt
    flat = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _clause(text: str, collection: str):
    match = _CLAUSE.match(text)
    if not match:
        raise FilterError(f"cannot parse filter clause {text!r}", "invalid_selection_field")
    field, op, wanted = match.groups()
    path = _ALIASES.get(field, field).split(".")
    if path[0] not in COMMON | FIELDS.get(collection, set()):
        raise FilterError(f"unknown filter field {field!r} for {collection}")
    compare = _OPS[op]
    if field == "dateLastModified":
        wanted_instant = instant(wanted)
        # One verdict per distinct timestamp text: a delta filter is checked against every
        # record of a collection (a million enrollments), which share few timestamps.
        verdicts: dict[str, bool] = {}

        def modified(rec: dict) -> bool:
            text = rec.get("dateLastModified")
            if not text:
                return False
            verdict = verdicts.get(text)
            if verdict is None:
                verdict = verdicts[text] = compare(instant(text), wanted_instant)
            return verdict

        return modified

    def matches(rec: dict) -> bool:
        for value in _values(rec, path):
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            if compare(str(value), wanted):
                return True
        return False

    return matches


def modified_since(text: str) -> tuple[str, str] | None:
    """``(op, instant)`` when the filter is one ``dateLastModified > or >=`` clause (the
    delta filter, which ``Snapshot`` answers from an index), else None."""
    match = _CLAUSE.match(text)
    if not match or " AND " in text or " OR " in text:
        return None
    field, op, wanted = match.groups()
    if field != "dateLastModified" or op not in (">", ">="):
        return None
    return op, instant(wanted)


def compile_filter(text: str, collection: str):
    """A predicate over internal (v1.1-shaped) records; raises ``FilterError``."""
    groups = [[_clause(c, collection) for c in part.split(" AND ")] for part in text.split(" OR ")]
    if len(groups) == 1 and len(groups[0]) == 1:
        return groups[0][0]
    return lambda rec: any(all(c(rec) for c in group) for group in groups)
