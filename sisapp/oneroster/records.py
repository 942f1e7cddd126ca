"""Typed OneRoster records that hide the differences between servers and versions.

A district can have a million enrollments, so records are named tuples built one at a
time from each page: immutable and without a ``__dict__`` like a frozen slotted
dataclass, at a third of its construction cost (a frozen dataclass's ``__init__`` sets
each field through ``object.__setattr__``: a second per million records). Unknown
fields are dropped here and never reach the sync. The helpers take the common case (a
clean ASCII string) first and remember the few distinct dates, timestamps, statuses
and roles a district has.

Parsing is lenient where real servers differ (booleans as strings, empty dates,
references as strings) and strict only where the sync cannot go on without the value:
a record without ``sourcedId``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import NamedTuple, TypeVar

from .errors import ErrorCode, OneRosterError

T = TypeVar("T")
V11_ROLES = frozenset(
    {"administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher"}
)


class Org(NamedTuple):
    sourced_id: str
    name: str | None
    type: str | None
    identifier: str | None
    status: str
    date_last_modified: datetime | None


class AcademicSession(NamedTuple):
    sourced_id: str
    title: str | None
    type: str | None
    start_date: date | None
    end_date: date | None
    parent_id: str | None
    school_year: str | None
    status: str
    date_last_modified: datetime | None


class Course(NamedTuple):
    sourced_id: str
    title: str | None
    course_code: str | None
    school_id: str | None
    status: str
    date_last_modified: datetime | None


class Class(NamedTuple):
    sourced_id: str
    title: str | None
    class_code: str | None
    class_type: str | None
    course_id: str | None
    school_id: str | None
    term_ids: tuple[str, ...]
    status: str
    date_last_modified: datetime | None


class UserRole(NamedTuple):
    role: str
    role_type: str
    org_id: str | None


class User(NamedTuple):
    sourced_id: str
    username: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    role: str | None
    roles: tuple[UserRole, ...]
    enabled: bool
    org_ids: tuple[str, ...]
    agent_ids: tuple[str, ...]
    phone: str | None
    sms: str | None
    identifier: str | None
    status: str
    date_last_modified: datetime | None


class Enrollment(NamedTuple):
    sourced_id: str
    user_id: str | None
    class_id: str | None
    school_id: str | None
    role: str | None
    primary: bool
    begin_date: date | None
    end_date: date | None
    status: str
    date_last_modified: datetime | None


# --- value helpers -------------------------------------------------------------------


def _memo(parse: Callable[[object], T]) -> Callable[[object], T]:
    """``parse`` remembering its results for string inputs (bounded; values are immutable).

    A district's dates, timestamps, statuses and roles take a few thousand distinct
    values over a million records, so most calls become one cache lookup.
    """
    remembered = lru_cache(maxsize=4096)(parse)

    def cached(value: object) -> T:
        return remembered(value) if type(value) is str else parse(value)

    cached.__doc__ = parse.__doc__
    cached.__wrapped__ = parse
    return cached


def text(value: object) -> str | None:
    """A string field: numbers become strings, empty strings and containers become None.

    NULs and lone surrogates (``\\u0000`` and ``\\ud800`` escapes are valid JSON) are
    dropped or replaced: no database stores them, and one stray character in a name must
    not fail a sync of a million records.
    """
    if type(value) is str and value.isascii():
        if "\x00" in value:
            value = value.replace("\x00", "")
        return value.strip() or None
    if value is None or isinstance(value, dict | list | bool):
        return None
    value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value.strip() or None


def boolean(value: object, default: bool) -> bool:
    """JSON booleans, "true"/"false" (any case), 1/0 and "1"/"0"; anything else: default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "y", "t"):
            return True
        if lowered in ("false", "0", "no", "n", "f"):
            return False
    return default


@_memo
def status(value: object) -> str:
    """Status as active or tobedeleted; the old value inactive means tobedeleted."""
    lowered = (text(value) or "active").lower()
    return "tobedeleted" if lowered in ("tobedeleted", "inactive", "deleted") else "active"


@_memo
def day(value: object) -> date | None:
    """A date from "", null, "2026-01-02" or a full datetime (its date part)."""
    raw = text(value)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


@_memo
def timestamp(value: object) -> datetime | None:
    """An aware datetime; naive values and bare dates are taken as UTC."""
    raw = text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(raw[:19])
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def ref(value: object) -> str | None:
    """The sourcedId of a GUIDRef (``{"sourcedId": ...}``) or of a bare id string."""
    if type(value) is dict:
        value = value.get("sourcedId")
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value.strip() or None
    return text(value)


def refs(value: object) -> tuple[str, ...]:
    """The sourcedIds of a list of GUIDRefs, in order, without duplicates or blanks."""
    if not value:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(r for r in (ref(item) for item in value) if r))


@_memo
def role_name(value: object) -> str | None:
    """v1.1 role names lowercased; v1.2 additions and ``ext:`` roles kept as given."""
    raw = text(value)
    if raw is None:
        return None
    return raw.lower() if raw.lower() in V11_ROLES else raw


def sourced_id(raw: object, path: str | None) -> str:
    """The record's sourcedId, or MALFORMED_PAGE: the sync cannot match a record without it."""
    value = ref(raw.get("sourcedId")) if isinstance(raw, dict) else None
    if not value:
        raise OneRosterError(
            ErrorCode.MALFORMED_PAGE,
            "A record has no sourcedId." if isinstance(raw, dict) else "A record is not an object.",
            path=path,
        )
    return value


# --- parsers -------------------------------------------------------------------------


def parse_org(raw: dict, path: str | None = None) -> Org:
    return Org(
        sourced_id=sourced_id(raw, path),
        name=text(raw.get("name")),
        type=text(raw.get("type")),
        identifier=text(raw.get("identifier")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )


def parse_academic_session(raw: dict, path: str | None = None) -> AcademicSession:
    return AcademicSession(
        sourced_id=sourced_id(raw, path),
        title=text(raw.get("title")),
        type=text(raw.get("type")),
        start_date=day(raw.get("startDate")),
        end_date=day(raw.get("endDate")),
        parent_id=ref(raw.get("parent")),
        school_year=text(raw.get("schoolYear")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )


def parse_course(raw: dict, path: str | None = None) -> Course:
    return Course(
        sourced_id=sourced_id(raw, path),
        title=text(raw.get("title")),
        course_code=text(raw.get("courseCode")),
        school_id=ref(raw.get("org")) or ref(raw.get("school")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )


def parse_class(raw: dict, path: str | None = None) -> Class:
    return Class(
        sourced_id=sourced_id(raw, path),
        title=text(raw.get("title")),
        class_code=text(raw.get("classCode")),
        class_type=text(raw.get("classType")),
        course_id=ref(raw.get("course")),
        school_id=ref(raw.get("school")),
        term_ids=refs(raw.get("terms")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )


def _user_roles(raw: dict, orgs: tuple[str, ...], primary_org: str | None) -> tuple[UserRole, ...]:
    """v1.2 ``roles[]`` (primary first) or v1.1 ``role`` at each of ``orgs[]``."""
    entries = raw.get("roles")
    roles: list[UserRole] = []
    if isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name = role_name(entry.get("role"))
            if not name:
                continue
            role_type = (text(entry.get("roleType")) or "primary").lower()
            roles.append(UserRole(name, role_type, ref(entry.get("org"))))
    if roles:
        roles.sort(key=lambda r: (r.role_type != "primary", r.org_id != primary_org))
        return tuple(roles)
    name = role_name(raw.get("role"))
    if not name:
        return ()
    org_ids = orgs or ((primary_org,) if raw.get("primaryOrg") else ())
    return tuple(UserRole(name, "primary", org) for org in org_ids) or (
        UserRole(name, "primary", None),
    )


def parse_user(raw: dict, path: str | None = None) -> User:
    sid = sourced_id(raw, path)
    primary_org = ref(raw.get("primaryOrg"))
    orgs = refs(raw.get("orgs"))
    roles = _user_roles(raw, orgs, primary_org)
    org_ids = tuple(
        dict.fromkeys(org for org in (primary_org, *(r.org_id for r in roles), *orgs) if org)
    )
    return User(
        sourced_id=sid,
        username=text(raw.get("username")),
        given_name=text(raw.get("givenName")),
        family_name=text(raw.get("familyName")),
        email=text(raw.get("email")),
        role=roles[0].role if roles else None,
        roles=roles,
        enabled=boolean(raw.get("enabledUser"), True),
        org_ids=org_ids,
        agent_ids=refs(raw.get("agents")),
        phone=text(raw.get("phone")),
        sms=text(raw.get("sms")),
        identifier=text(raw.get("identifier")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )


def parse_enrollment(raw: dict, path: str | None = None) -> Enrollment:
    return Enrollment(
        sourced_id=sourced_id(raw, path),
        user_id=ref(raw.get("user")),
        class_id=ref(raw.get("class")),
        school_id=ref(raw.get("school")),
        role=role_name(raw.get("role")),
        primary=boolean(raw.get("primary"), False),
        begin_date=day(raw.get("beginDate")),
        end_date=day(raw.get("endDate")),
        status=status(raw.get("status")),
        date_last_modified=timestamp(raw.get("dateLastModified")),
    )
