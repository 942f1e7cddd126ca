"""The device's directory: the users SIS data can be attached to.

The CSV import stands in for the directory services (LDAP, Azure, Google) that
create users in School Manager. It is all or nothing: a file with one bad row
would otherwise leave the directory half-updated and the admin guessing which
half.
"""

import csv
import io
import unicodedata
from dataclasses import dataclass, field

import email_validator
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    Device,
    DirectoryUser,
    OneRosterIntegration,
    ParentContact,
    RelationshipType,
    UserKind,
    normalise_email,
)
from sisapp.services.text import has_bidi_override

CSV_COLUMNS = ("email", "given_name", "family_name", "kind", "source")
_MAX_NAME = 120


# Active Directory's ".local" is a real directory domain: allowed the way email-validator
# documents (its list of special-use names is read at each validation).
if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")


def is_valid_email(email: str) -> bool:
    """Syntax only, no DNS: catches the typos and shifted columns CSV edits cause.

    Active Directory's ``.local`` domains are accepted (see above).
    """
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return len(email) <= 254


class DirectoryImportError(ValueError):
    """The file was refused; nothing from it was written."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors[:5]) + (" …" if len(errors) > 5 else ""))


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def _has_control(text: str) -> bool:
    """Control characters (NUL, escapes, C1): PostgreSQL refuses NUL, pages garble the rest."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def decode_directory_csv(data: bytes) -> str:
    """The file as text; a file that is not UTF-8 is refused with the line to look at
    (an editor shows lines, not byte offsets)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DirectoryImportError(
            [f"line {line}: not valid UTF-8 text; save the file as UTF-8 (CSV UTF-8)"]
        ) from None


def parse_directory_csv(text: str | bytes) -> list[dict]:
    """Parse and validate every row; raise with every bad line's number."""
    if isinstance(text, bytes):
        text = decode_directory_csv(text)
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _parse_rows(reader)
    except csv.Error as exc:  # a stray carriage return, an unclosed quote...
        raise DirectoryImportError([f"line {reader.line_num}: not valid CSV ({exc})"]) from None


def _parse_rows(reader: csv.DictReader) -> list[dict]:
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise DirectoryImportError(
            [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"]
        )
    reader.fieldnames = header
    rows, errors, seen = [], [], {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more fields than the header has")
            continue
        email = normalise_email(row.get("email"))
        if not is_valid_email(email):
            errors.append(f"line {line}: {row.get('email')!r} is not a valid email address")
            continue
        kind = (row.get("kind") or "").strip().lower()
        if kind not in {k.value for k in UserKind}:
            errors.append(f"line {line}: kind must be student, teacher or staff, not {kind!r}")
            continue
        given, family = (
            (row.get("given_name") or "").strip(),
            (row.get("family_name") or "").strip(),
        )
        if len(given) > _MAX_NAME or len(family) > _MAX_NAME:
            errors.append(f"line {line}: names are limited to {_MAX_NAME} characters")
            continue
        if _has_control(given + family):
            errors.append(f"line {line}: names must not contain control characters")
            continue
        if has_bidi_override(given + family):
            errors.append(f"line {line}: names must not contain bidirectional override characters")
            continue
        source = (row.get("source") or "").strip()
        if _has_control(source):
            errors.append(f"line {line}: the source must not contain control characters")
            continue
        if has_bidi_override(source):
            errors.append(
                f"line {line}: the source must not contain bidirectional override characters"
            )
            continue
        if email in seen:
            errors.append(f"line {line}: {email} already appears on line {seen[email]}")
            continue
        seen[email] = line
        rows.append(
            {
                "email": email,
                "given_name": given,
                "family_name": family,
                "kind": UserKind(kind),
                "source": source[:40],
            }
        )
    if errors:
        raise DirectoryImportError(errors)
    return rows


def import_directory_csv(device: Device, text: str | bytes) -> ImportSummary:
    """Upsert users by email in one transaction (bytes: the file as read, UTF-8)."""
    rows = parse_directory_csv(text)
    existing = {
        u.email: u
        for u in db.session.scalars(
            select(DirectoryUser).where(DirectoryUser.device_id == device.id)
        )
    }
    summary = ImportSummary()
    fields = ("given_name", "family_name", "kind", "source")
    try:
        for row in rows:
            user = existing.get(row["email"])
            if user is None:
                db.session.add(DirectoryUser(device_id=device.id, **row))
                summary.created += 1
            elif any(getattr(user, f) != row[f] for f in fields):
                for f in fields:
                    setattr(user, f, row[f])
                summary.updated += 1
            else:
                summary.unchanged += 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return summary


def _like(query: str) -> str:
    """A LIKE pattern that matches `query` literally (%, _ and \\ escaped)."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_directory(device_id: int, query: str = ""):
    """A select of the device's users, filtered by name or email, for paging."""
    stmt = select(DirectoryUser).where(DirectoryUser.device_id == device_id)
    query = (query or "").strip()
    if query:
        like = _like(query)
        full_name = func.lower(DirectoryUser.given_name + " " + DirectoryUser.family_name)
        stmt = stmt.where(
            or_(DirectoryUser.email.like(like, escape="\\"), full_name.like(like, escape="\\"))
        )
    return stmt.order_by(DirectoryUser.family_name, DirectoryUser.given_name, DirectoryUser.email)


def count_directory(device_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(DirectoryUser).where(DirectoryUser.device_id == device_id)
    )


def classes_per_user(user_ids: list[int]) -> dict[int, int]:
    """How many classrooms each of these users belongs to (one query for a page)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(ClassroomMember.directory_user_id, func.count())
        .where(ClassroomMember.directory_user_id.in_(user_ids))
        .group_by(ClassroomMember.directory_user_id)
    )
    return dict(rows.all())


def search_classrooms(device_id: int, query: str = ""):
    """The device's classrooms, which outlive a deleted integration, for paging."""
    stmt = select(Classroom).where(Classroom.device_id == device_id)
    query = (query or "").strip()
    if query:
        stmt = stmt.where(func.lower(Classroom.name).like(_like(query), escape="\\"))
    return stmt.order_by(Classroom.name, Classroom.id)


def members_per_classroom(classroom_ids: list[int]) -> dict[int, dict[str, int]]:
    """{classroom id: {"student": n, "teacher": n}} for a page of classrooms, in one query."""
    counts: dict[int, dict[str, int]] = {i: {"student": 0, "teacher": 0} for i in classroom_ids}
    if classroom_ids:
        rows = db.session.execute(
            select(ClassroomMember.classroom_id, ClassroomMember.role, func.count())
            .where(ClassroomMember.classroom_id.in_(classroom_ids))
            .group_by(ClassroomMember.classroom_id, ClassroomMember.role)
        )
        for classroom_id, role, n in rows:
            counts[classroom_id][role] = n
    return counts


def integration_names(device_id: int) -> dict[int, str]:
    """{integration id: name}: the Source column names the integration."""
    stmt = select(OneRosterIntegration.id, OneRosterIntegration.name).where(
        OneRosterIntegration.device_id == device_id
    )
    return dict(db.session.execute(stmt).all())


def count_classrooms(device_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Classroom).where(Classroom.device_id == device_id)
    )


# -- parents --------------------------------------------------------------------------
# A parent is one SIS person (integration, sis_parent_id); the table holds one row per
# parent and linked student, so pages are built from groups.


def search_parents(device_id: int, query: str = ""):
    """One id (the group's first row) per parent of the device, by name, for paging."""
    pc = ParentContact
    stmt = select(func.min(pc.id)).where(pc.device_id == device_id)
    query = (query or "").strip()
    if query:
        pattern = _like(query)
        full_name = func.lower(
            func.coalesce(pc.given_name, "") + " " + func.coalesce(pc.family_name, "")
        )
        stmt = stmt.where(
            or_(
                full_name.like(pattern, escape="\\"),
                func.lower(pc.email).like(pattern, escape="\\"),
            )
        )
    return stmt.group_by(pc.integration_id, pc.sis_parent_id).order_by(
        func.min(pc.family_name), func.min(pc.given_name), func.min(pc.id)
    )


@dataclass
class ParentRow:
    name: str
    email: str
    phone: str | None
    relationship: str
    source: str
    students: list[str] = field(default_factory=list)


def parents_for(contact_ids: list[int]) -> dict[int, ParentRow]:
    """{first row id: the parent with their linked students and source} for a page."""
    if not contact_ids:
        return {}
    pc = ParentContact
    heads = db.session.scalars(select(pc).where(pc.id.in_(contact_ids))).all()
    device_id = heads[0].device_id
    names = dict(
        db.session.execute(
            select(OneRosterIntegration.id, OneRosterIntegration.name).where(
                OneRosterIntegration.device_id == device_id
            )
        ).all()
    )
    rows = {}
    for head in heads:
        relation = head.relationship
        if relation in {r.value for r in RelationshipType}:
            relation = RelationshipType(relation).label
        rows[(head.integration_id, head.sis_parent_id)] = (
            head.id,
            ParentRow(
                name=" ".join(p for p in (head.given_name, head.family_name) if p) or head.email,
                email=head.email,
                phone=head.phone,
                relationship=relation,
                source=names.get(head.integration_id, "Deleted integration (kept)"),
            ),
        )
    students = db.session.execute(
        select(
            pc.integration_id, pc.sis_parent_id, DirectoryUser.given_name, DirectoryUser.family_name
        )
        .join(DirectoryUser, DirectoryUser.id == pc.student_user_id)
        .where(pc.device_id == device_id, pc.sis_parent_id.in_([h.sis_parent_id for h in heads]))
        .order_by(DirectoryUser.family_name, DirectoryUser.given_name)
    )
    for integration_id, parent_id, given, family in students:
        found = rows.get((integration_id, parent_id))
        if found:
            found[1].students.append(f"{given} {family}".strip())
    return dict(rows.values())


def count_parents(device_id: int) -> int:
    pc = ParentContact
    groups = select(pc.integration_id, pc.sis_parent_id).where(pc.device_id == device_id).distinct()
    return db.session.scalar(select(func.count()).select_from(groups.subquery())) or 0
