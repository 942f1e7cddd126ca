"""Collect a run's change set: what it changed by kind, counted, and the first rows of each.

The derive and memberships steps already compute the differences they write (links
gone and new, classrooms gone, renamed and new, memberships deleted and inserted); they
report them here, so the change set costs a few counters and at most ``limit`` labels
per kind, never a second copy of the district. Counts are complete; rows stop at
``limit`` per kind (SYNC_CHANGE_ROWS_PER_KIND) and ``totals`` says how many there were.
See docs/sync-rules.md rule 12.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import false, func, select

from sisapp.models import (
    Classroom,
    ClassroomMember,
    DirectoryUser,
    SisClass,
    SisUser,
    SyncChange,
    UnmatchedUser,
    empty_changes,
    normalise_email,
)
from sisapp.sync import dialect
from sisapp.sync.stage import STAGE_CLASS, STAGE_USER

# Why a row went (the reasons a change set names).
GONE = "gone from the SIS"
DELETED = "tobedeleted in the SIS"
EXCLUDED = "school excluded"
CLASSES_OFF = "Sync Classroom Data off"
LEFT_ENROLMENT = "left by Respect Enrolment Date"
LEFT_SESSIONS = "left by Respect Academic Sessions"
EMAIL = "email no longer matches"
RELINKED = "matched again"
UNMATCHED_NOW = "member no longer matched"
DISABLED = "disabled in the SIS"
NOW_MATCHED = "now matched"
NOT_LISTED = "no longer listed (gone, excluded or left out)"
ENROLMENT_GONE = "enrollment gone from the SIS"
ENROLMENT_ENDED = "enrollment gone or ended (Respect Enrolment Date)"
PARENT_GONE = "no longer a parent of a matched student"

DEFAULT_ROWS_PER_KIND = 5000


@dataclass
class ChangeSet:
    """Counts and bounded rows of one run's changes."""

    limit: int = DEFAULT_ROWS_PER_KIND
    counts: dict = field(default_factory=empty_changes)
    rows: list[dict] = field(default_factory=list)
    # Removals by (kind, reason): complete, for the run's log.
    reasons: Counter = field(default_factory=Counter)
    # Directory users whose match went this run (their memberships go for that reason).
    unlinked: set = field(default_factory=set)
    _kept: Counter = field(default_factory=Counter)

    def add(self, kind: str, change: str, subject: str, reason: str | None = None) -> None:
        self.count(kind, change, 1, reason)
        self.row(kind, change, subject, reason)

    def count(self, kind: str, change: str, n: int, reason: str | None = None) -> None:
        """Count ``n`` changes whose rows the caller reports separately (or not at all)."""
        self.counts[kind][change] += n
        if change == "removed" and n:
            self.reasons[(kind, reason or GONE)] += n

    def row(self, kind: str, change: str, subject: str, reason: str | None = None) -> None:
        if self._kept[kind] < self.limit:
            self._kept[kind] += 1
            self.rows.append(
                {"kind": kind, "change": change, "subject": str(subject)[:500], "reason": reason}
            )

    def room(self, kind: str) -> int:
        """How many more rows of ``kind`` are kept."""
        return max(0, self.limit - self._kept[kind])

    def removal_lines(self) -> list[str]:
        """The log's lines of what went and why, one per kind."""
        lines = []
        for kind in self.counts:
            why = [(reason, n) for (k, reason), n in sorted(self.reasons.items()) if k == kind]
            if why:
                detail = ", ".join(f"{n} {reason}" for reason, n in why)
                lines.append(f"{kind.replace('_', ' ')} removed: {detail}")
        return lines

    def write(self, conn, run_id: int) -> None:
        """Insert the rows on ``conn`` (the apply's transaction, or the end record's)."""
        dialect.insert_rows(conn, SyncChange, [{"run_id": run_id, **row} for row in self.rows])

    def summary(self) -> str:
        """One log line: every kind's added / removed (/ renamed)."""
        parts = []
        for kind, changes in self.counts.items():
            text = " / ".join(f"{'+' if c == 'added' else '-' if c == 'removed' else '~'}{n}"
                              for c, n in changes.items())  # fmt: skip
            parts.append(f"{kind.replace('_', ' ')} {text}")
        return "changes: " + ", ".join(parts)


# --- what the derive and memberships steps report ----------------------------------------


def unlinked_users(cs: ChangeSet) -> set[int]:
    return cs.unlinked


def _emails(conn, uids) -> dict[int, str]:
    statement = select(DirectoryUser.id, DirectoryUser.email)
    return dict(dialect.rows_among(conn, statement, DirectoryUser.id, sorted(set(uids))))


def _staged_deleted(conn, stage, sids) -> set[str]:
    """sourcedIds this run read as ``tobedeleted`` (the staging tables are the run's own)."""
    statement = select(stage.c.sourced_id).where(stage.c.active == false())
    rows = dialect.rows_among(conn, statement, stage.c.sourced_id, sorted(sids))
    return {sid for (sid,) in rows}


def record_links(conn, integration, run_id, gone: list, fresh: list[dict], cs: ChangeSet) -> None:
    """Matched users: links removed (with why) and added. ``gone``: (sid, directory user,
    role, reason or None: to be found from the mirror)."""
    unknown = [sid for sid, _, _, reason in gone if reason is None]
    statement = select(SisUser.sourced_id, SisUser.email, SisUser.enabled).where(
        SisUser.integration_id == integration.id)  # fmt: skip
    rows = dialect.rows_among(conn, statement, SisUser.sourced_id, sorted(unknown))
    mirrored = {sid: (email, enabled) for sid, email, enabled in rows}
    deleted = _staged_deleted(conn, STAGE_USER, set(unknown) - set(mirrored))
    room = cs.room("matched_users")
    emails = _emails(conn, [u for _, u, _, _ in gone[:room]] + [r["directory_user_id"] for r in fresh[:room]])  # fmt: skip
    if unknown:
        emails.update(_emails(conn, [u for sid, u, _, _ in gone if sid in mirrored]))
    for sid, uid, role, reason in gone:
        if reason is None and sid in mirrored:
            email, enabled = mirrored[sid]
            if not enabled:
                reason = DISABLED
            elif integration.respect_enrolment_date and role == "student" and normalise_email(email) == normalise_email(emails.get(uid)):  # fmt: skip
                reason = LEFT_ENROLMENT
            else:
                reason = EMAIL
        elif reason is None:
            reason = DELETED if sid in deleted else GONE
        cs.add("matched_users", "removed", f"{emails.get(uid, uid)} ({sid})", reason)
    for row in fresh:
        uid, sid = row["directory_user_id"], row["sis_sourced_id"]
        cs.add("matched_users", "added", f"{emails.get(uid, uid)} ({sid})")
    cs.unlinked = {uid for _, uid, _, _ in gone} - {r["directory_user_id"] for r in fresh}


def record_unmatched(conn, iid: int, match, scope, cs: ChangeSet) -> None:
    """Unmatched users: who joined and who left the list (read before it is replaced)."""
    columns = (UnmatchedUser.sis_sourced_id, UnmatchedUser.name, UnmatchedUser.email)
    mine = UnmatchedUser.integration_id == iid
    before = {}
    if scope is None:
        before = {sid: (name, email) for sid, name, email in conn.execute(select(*columns).where(mine))}  # fmt: skip
    rows = dialect.rows_among(conn, select(*columns).where(mine), UnmatchedUser.sis_sourced_id, scope or [])  # fmt: skip
    before.update({sid: (name, email) for sid, name, email in rows})
    after = {row["sis_sourced_id"]: row for row in match.unmatched}
    for sid, (name, email) in before.items():
        if sid not in after:
            reason = NOW_MATCHED if sid in match.links else NOT_LISTED
            cs.add("unmatched_users", "removed", f"{name} <{email or '-'}> ({sid})", reason)
    for sid, row in after.items():
        if sid not in before:
            cs.add("unmatched_users", "added", f"{row.get('name')} <{row.get('email') or '-'}> ({sid})")  # fmt: skip


def classroom_reasons(conn, integration, excluded: set[str], gone: dict[str, str | None]) -> dict:
    """Why each classroom in ``gone`` (sourcedId -> its stored school) is not wanted."""
    if not gone:
        return {}
    if not integration.sync_classes:
        return dict.fromkeys(gone, CLASSES_OFF)
    statement = select(SisClass.sourced_id, SisClass.school_id).where(
        SisClass.integration_id == integration.id)  # fmt: skip
    mirrored = dict(dialect.rows_among(conn, statement, SisClass.sourced_id, sorted(gone)))
    deleted = _staged_deleted(conn, STAGE_CLASS, set(gone) - set(mirrored))
    reasons = {}
    for sid, school in gone.items():
        if mirrored.get(sid, school) in excluded:
            reasons[sid] = EXCLUDED
        elif sid in mirrored:
            reasons[sid] = LEFT_SESSIONS
        else:
            reasons[sid] = DELETED if sid in deleted else GONE
    return reasons


def members_of_removed(conn, current: dict, gone: list[int], reasons: dict, cs: ChangeSet) -> dict:
    """Count (and label the first of) the memberships that go with removed classrooms;
    returns classroom id -> members."""
    if not gone:
        return {}
    rooms = {row[0]: (sid, row[2]) for sid, row in current.items()}
    member = ClassroomMember
    counts = select(member.classroom_id, func.count()).group_by(member.classroom_id)
    held = dict(dialect.rows_among(conn, counts, member.classroom_id, gone))
    for cid, n in held.items():
        cs.count("memberships", "removed", n, reasons[rooms[cid][0]])
    room = cs.room("memberships")
    if room:
        pairs = []
        for among in dialect.among(conn, member.classroom_id, gone):
            pairs += conn.execute(select(member.classroom_id, member.directory_user_id).where(
                among).limit(room - len(pairs))).all()  # fmt: skip
            if len(pairs) >= room:
                break
        emails = _emails(conn, [u for _, u in pairs])
        for cid, uid in pairs:
            cs.row("memberships", "removed", f"{rooms[cid][1]}: {emails.get(uid, uid)}", reasons[rooms[cid][0]])  # fmt: skip
    return held


def record_members(conn, cs: ChangeSet, removed: list, added: list, *, removed_total: int,
                   added_total: int, unlinked: set[int], ended: bool) -> None:  # fmt: skip
    """Memberships the members step removed and added: ``removed`` and ``added`` are
    (classroom id, directory user) pairs, all of them or the first ones of the totals."""
    gone = ENROLMENT_ENDED if ended else ENROLMENT_GONE
    if len(removed) == removed_total:
        for _, uid in removed:
            cs.count("memberships", "removed", 1, UNMATCHED_NOW if uid in unlinked else gone)
    else:
        cs.count("memberships", "removed", removed_total, gone)
    cs.count("memberships", "added", added_total)
    removed, added = removed[: cs.room("memberships")], added[: cs.room("memberships")]
    if not removed and not added:
        return
    pairs = removed + added
    emails = _emails(conn, [u for _, u in pairs])
    statement = select(Classroom.id, Classroom.name)
    names = dict(dialect.rows_among(conn, statement, Classroom.id, sorted({c for c, _ in pairs})))
    for cid, uid in removed:
        reason = UNMATCHED_NOW if uid in unlinked else gone
        cs.row("memberships", "removed", f"{names.get(cid, cid)}: {emails.get(uid, uid)}", reason)
    for cid, uid in added:
        cs.row("memberships", "added", f"{names.get(cid, cid)}: {emails.get(uid, uid)}")
