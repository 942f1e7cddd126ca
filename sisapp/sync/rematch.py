"""Match again, in a delta, only the SIS users the delta can have changed.

A SIS student's or teacher's match (docs/sync-rules.md rule 2) depends on its own record, on the device's
directory, on the excluded schools, on the school names (the unmatched list shows one)
and on the other users with the same email (the first in sourcedId order claims it).
So while the directory, the exclusions, the school names and the options are what the
stored matches were computed under (the *basis*, kept on the integration), a delta can
only change the outcome of a user it staged, or of a user who shares an email, before
or after the change, with one of those: the *users in question*. Every user with one of
their emails is among them, so their claims are settled among the same users as in a
full match, and no other user's claims involve them.

Their outcome before the merge is matched from the mirror as it was (which is what the
stored rows hold, the basis being unchanged), their outcome after from the mirror as
it is; their stored links and unmatched rows are replaced, and the counts kept with the
basis move by the difference. Every other stored row stays, and is what a full match
would store. Anything else (a full read, edited options, a changed directory, Respect
Enrolment Date, parents) matches everybody (``match.match_users``), which records a new
basis.

The directory's fingerprint (``directory_fingerprint``: every directory user's id and
email) moves with any change of the directory that matching could see.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import String, cast, select, union

from sisapp.models import DirectoryUser, OneRosterIntegration, SisUser
from sisapp.sync import dialect
from sisapp.sync.match import MatchResult, SisUserRow, match_users_by_email
from sisapp.sync.stage import STAGE_USER, USER_COLUMNS

RULES = 1  # bump when the matching rules change: stored bases then stop holding


@dataclass
class MatchSummary:
    """What the Sync Details and the log say about the matching."""

    matched_students: int
    matched_teachers: int
    unmatched: int
    skipped: Counter = field(default_factory=Counter)
    other_roles: Counter = field(default_factory=Counter)
    duplicate_count: int = 0
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # logged examples

    @classmethod
    def of(cls, match: MatchResult) -> MatchSummary:
        return cls(
            match.matched_students,
            match.matched_teachers,
            len(match.unmatched),
            Counter(match.skipped),
            Counter(match.other_roles),
            match.duplicate_count,
            list(match.duplicates),
        )

    def stored(self) -> dict:
        return {
            "matched_students": self.matched_students,
            "matched_teachers": self.matched_teachers,
            "unmatched": self.unmatched,
            "skipped": dict(self.skipped),
            "other_roles": dict(self.other_roles),
            "duplicates": self.duplicate_count,
        }


def basis_key(conn, integration: OneRosterIntegration, excluded: set[str], schools: dict) -> dict:
    """What a match is computed under. Read before the directory itself, so that a
    directory change committed meanwhile (PostgreSQL) can only make the key stale,
    never newer than the directory the match used."""
    names = json.dumps(sorted(schools.items()), ensure_ascii=False).encode()
    key = {
        "rules": RULES,
        "directory": directory_fingerprint(conn, integration.device_id),
        "excluded": sorted(excluded),
        "schools": hashlib.sha256(names).hexdigest(),
        "parents": integration.relationship_type.value if integration.sync_parents else None,
        "enrolment_date": bool(integration.respect_enrolment_date),
    }
    return json.loads(json.dumps(key))  # as it reads back from the JSON column


def directory_fingerprint(conn, device_id: int) -> list:
    """[count, sha256 of every (id, email)] of the device's directory: exactly what matching
    reads, so any change to it (an import, a delete, an email rewritten by a bulk SQL
    update that leaves updated_at alone) is seen, and a change to names is not (it cannot
    change a match)."""
    text = cast(DirectoryUser.id, String) + "\x1f" + DirectoryUser.email + "\x1e"
    count, joined = dialect.count_and_joined(
        conn, text, DirectoryUser.id, DirectoryUser.device_id == device_id
    )
    digest = hashlib.sha256(joined.encode())
    return [count, digest.hexdigest()]


def record_basis(integration: OneRosterIntegration, key: dict, summary: MatchSummary) -> None:
    integration.match_basis = {"key": key, **summary.stored()}


@dataclass
class Rematch:
    """The users in question of a delta and their outcome before the merge."""

    basis: dict
    sids: list[str]
    directory: dict[str, int]
    before: MatchResult
    options: dict

    @classmethod
    def usable(cls, integration: OneRosterIntegration, full_read: bool, key: dict) -> bool:
        basis = integration.match_basis
        return bool(
            not full_read
            and not integration.needs_sync
            and not integration.sync_parents
            and not integration.respect_enrolment_date
            and basis
            and basis.get("key") == key
        )

    @classmethod
    def before_merge(cls, conn, integration, run_id: int, excluded: set[str], schools: dict) -> Rematch:  # fmt: skip
        """Find the users in question (from the staged users and the mirror before the
        merge) and match them as the mirror stands."""
        iid = integration.id
        stage = STAGE_USER.c
        staged = select(stage.sourced_id).where(stage.run_id == run_id)
        emails_in_question = union(
            select(stage.email).where(stage.run_id == run_id),
            select(SisUser.email).where(
                SisUser.integration_id == iid, SisUser.sourced_id.in_(staged)
            ),  # fmt: skip
        ).subquery()
        emails = sorted(e for e in conn.scalars(select(emails_in_question.c.email)) if e)
        sharers = select(SisUser.sourced_id).where(  # no index on email: read the table
            dialect.equals_for_scan(conn, SisUser.integration_id, iid),
            SisUser.email.in_(select(emails_in_question.c.email)),
            SisUser.email != "",
        )
        sids = sorted(set(conn.scalars(union(staged, sharers))))
        mine = select(DirectoryUser.email, DirectoryUser.id).where(
            DirectoryUser.device_id == integration.device_id
        )
        directory = dict(dialect.rows_among(conn, mine, DirectoryUser.email, emails))
        options = {"excluded_schools": excluded, "current_students": None,
                   "school_names": schools, "relationship": None}  # fmt: skip
        before = match_users_by_email(_rows(conn, iid, sids), directory, **options)
        return cls(integration.match_basis, sids, directory, before, options)

    def after_merge(self, conn, iid: int) -> MatchResult:
        """The users in question matched again, from the merged mirror."""
        return match_users_by_email(_rows(conn, iid, self.sids), self.directory, **self.options)

    def summary(self, after: MatchResult) -> MatchSummary:
        """The stored counts moved by the difference the users in question make."""
        old, new, basis = MatchSummary.of(self.before), MatchSummary.of(after), self.basis
        return MatchSummary(
            basis["matched_students"] - old.matched_students + new.matched_students,
            basis["matched_teachers"] - old.matched_teachers + new.matched_teachers,
            basis["unmatched"] - old.unmatched + new.unmatched,
            _moved(basis["skipped"], old.skipped, new.skipped),
            _moved(basis["other_roles"], old.other_roles, new.other_roles),
            basis["duplicates"] - old.duplicate_count + new.duplicate_count,
            new.duplicates,
        )


def _moved(stored: dict, old: Counter, new: Counter) -> Counter:
    moved = Counter(stored)
    moved.subtract(old)
    moved.update(new)
    return Counter({key: n for key, n in moved.items() if n})


def _rows(conn, iid: int, sids: list[str]) -> list[SisUserRow]:
    """Mirrored users with these sourcedIds, every role, in SIS (codepoint) order."""
    columns = [getattr(SisUser, c) for c in USER_COLUMNS]
    statement = select(*columns).where(SisUser.integration_id == iid)
    rows = dialect.rows_among(conn, statement, SisUser.sourced_id, sids)
    rows.sort(key=lambda row: row[0])
    return [SisUserRow.from_db(row) for row in rows]
