"""The in-memory district: plain OneRoster v1.1-shaped dicts plus a few helpers.

Records reference each other with shared ``{"sourcedId", "type"}`` dicts (one object per
target), so 350,000 enrollments cost one dict each and no nested copies; the server adds
``href`` when it serialises. ``revision`` goes up whenever records change so a running
server knows its pre-serialised pages are stale.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

Record = dict[str, Any]

#: Collection name -> OneRoster GUIDRef ``type`` of its records.
REF_TYPES = {
    "orgs": "org",
    "academicSessions": "academicSession",
    "courses": "course",
    "classes": "class",
    "users": "user",
    "enrollments": "enrollment",
}


def timestamp(moment: datetime) -> str:
    """Format an instant the way the demo SIS always does: UTC with milliseconds and ``Z``."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalise_email(value: Any) -> str:
    """Trim and lowercase an email the way the matching rules compare them."""
    return value.strip().lower() if isinstance(value, str) else ""


def _by_modified(records: list[Record]) -> tuple[list[str], list[int]] | None:
    from .filters import FilterError, instant

    try:
        pairs = sorted(
            (instant(text), n)
            for n, rec in enumerate(records)
            if (text := rec.get("dateLastModified"))
        )
    except (FilterError, AttributeError):
        return None
    return [at for at, _ in pairs], [n for _, n in pairs]


@dataclass
class District:
    """A generated district; see ``generator.generate_district``."""

    spec: Any
    today: date
    orgs: list[Record]
    academic_sessions: list[Record]
    courses: list[Record]
    classes: list[Record]
    users: list[Record]
    enrollments: list[Record]
    directory: list[dict[str, str]]
    pending_users: list[Record] = field(default_factory=list)
    revision: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    refs: dict[tuple[str, str], Record] = field(default_factory=dict, repr=False)
    _modified: dict[str, tuple] = field(default_factory=dict, repr=False)

    # -- lookups --------------------------------------------------------------------
    @property
    def schools(self) -> list[Record]:
        """School orgs in sourcedId order (what ``/schools`` serves)."""
        return [o for o in self.orgs if o["type"] == "school"]

    def collection(self, name: str) -> list[Record]:
        """Records of a top-level collection by its OneRoster name."""
        return {
            "orgs": self.orgs,
            "academicSessions": self.academic_sessions,
            "courses": self.courses,
            "classes": self.classes,
            "users": self.users,
            "enrollments": self.enrollments,
        }[name]

    def ref(self, ref_type: str, sourced_id: str) -> Record:
        """The shared GUIDRef dict for a record (created once, reused everywhere)."""
        key = (ref_type, sourced_id)
        found = self.refs.get(key)
        if found is None:
            found = self.refs[key] = {"sourcedId": sourced_id, "type": ref_type}
        return found

    def directory_emails(self) -> set[str]:
        """Normalised emails of every directory user."""
        return {row["email"] for row in self.directory}

    # -- outputs ----------------------------------------------------------------------
    def directory_rows(self) -> list[dict[str, str]]:
        """Rows of the School Manager directory CSV (email, names, kind, source)."""
        return [dict(row) for row in self.directory]

    def write_directory_csv(self, path) -> None:
        """Write the directory as the CSV ``flask directory import`` reads."""
        from .directory import write_directory_csv

        write_directory_csv(self.directory, path)

    def expected_counts(self, **options) -> dict[str, int]:
        """Sync Details counts a correct sync of this district must report (options as
        ``expected.expected_counts`` takes them)."""
        from .expected import expected_counts

        return expected_counts(self, **options)

    def write_expected_json(self, path) -> None:
        """Write the expected counts for every option combination as JSON."""
        from .expected import write_expected_json

        write_expected_json(self, path)

    def apply_changes(self, share: float, seed: int | None = None, now=None) -> dict[str, int]:
        """Edit a share of records and stamp them modified now (see ``changes``)."""
        from .changes import apply_changes

        return apply_changes(self, share, self.spec.seed if seed is None else seed, now=now)

    def touch(self) -> None:
        """Re-sort collections by sourcedId and bump the revision after an edit; the
        dateLastModified indexes of the big collections are rebuilt here, on write,
        the way a database maintains its index (see ``modified_index``)."""
        for records in (self.orgs, self.academic_sessions, self.courses, self.classes):
            records.sort(key=lambda r: r["sourcedId"])
        self.users.sort(key=lambda r: r["sourcedId"])
        self.enrollments.sort(key=lambda r: r["sourcedId"])
        self.revision += 1
        self._modified.clear()
        for name in ("users", "classes", "enrollments"):
            self.modified_index(name)

    def modified_index(self, name: str) -> tuple[list[str], list[int]] | None:
        """(instants ascending, positions) of a collection's records by
        dateLastModified, for this revision: what a database-backed SIS answers a delta
        filter from, instead of looking at every record (the demo's scan of 375,000
        enrollments took longer than the sync's own work on the changes). None when a
        record's timestamp cannot be read: the filter then checks every record."""
        found = self._modified.get(name)
        if found is None or found[0] != self.revision:
            found = self._modified[name] = (self.revision, _by_modified(self.collection(name)))
        return found[1]
