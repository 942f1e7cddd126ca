"""What a sync changes, and the admin's say over it: previews, the blocked run's
one-time consent, the removals an edit announces, and a run's change rows.

The change set itself is computed by the sync (``sisapp.sync.changes``, docs/sync-rules.md
rule 12); this module is what the pages and the CLI ask about it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import (
    CHANGE_KINDS,
    Classroom,
    ClassroomMember,
    OneRosterIntegration,
    SisUser,
    SisUserLink,
    SyncChange,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from sisapp.models.types import utcnow
from sisapp.schedule.full_reads import next_full_read_slots
from sisapp.services.sync_runs import next_scheduled_sync, request_sync

GOOD = (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL)


# -- runs ---------------------------------------------------------------------------------


def preview_sync(integration: OneRosterIntegration) -> tuple[SyncRun, bool]:
    """Queue a preview: a run that reads the SIS and computes the change set like a sync,
    then rolls the apply back (status ``preview``, or ``blocked`` when the safety threshold
    would block the sync). Never blocks a sync, never counts as the last sync. Returns
    (run, True), or (the active preview, False)."""
    return request_sync(integration, SyncTrigger.PREVIEW)


def allow_removals_once(integration: OneRosterIntegration) -> tuple[SyncRun, bool]:
    """The admin's "Allow these removals": queue a sync that may pass the safety threshold
    once (the consent is cleared by the next sync that applies; rule 9)."""
    integration.allow_large_removals = True
    db.session.commit()
    return request_sync(integration)


def last_good_run(integration: OneRosterIntegration) -> SyncRun | None:
    """The newest sync that applied (succeeded or partial): its Sync Details stay the
    integration's details after a cancelled, failed or blocked attempt."""
    return db.session.scalar(
        select(SyncRun)
        .where(
            SyncRun.integration_id == integration.id,
            SyncRun.status.in_(GOOD),
            SyncRun.trigger != SyncTrigger.PREVIEW,
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


def latest_preview(integration: OneRosterIntegration) -> SyncRun | None:
    return latest_previews([integration]).get(integration.id)


def latest_previews(integrations: list[OneRosterIntegration]) -> dict[int, SyncRun]:
    """The newest preview of each integration that has one, by id, in one query."""
    if not integrations:
        return {}
    newest = (
        select(func.max(SyncRun.id))
        .where(
            SyncRun.integration_id.in_([i.id for i in integrations]),
            SyncRun.trigger == SyncTrigger.PREVIEW,
        )
        .group_by(SyncRun.integration_id)
    )
    return {run.integration_id: run for run in db.session.scalars(select(SyncRun).where(SyncRun.id.in_(newest)))}  # fmt: skip


def next_full_read(
    integration: OneRosterIntegration, now: datetime | None = None
) -> datetime | None:
    """When the next scheduled sync that reads everything starts (UTC; the planned start
    when it is the very next sync, else its day's 6 PM slot); None when none is planned.
    For the row: "Next full read: ..." (docs/sync-rules.md rule 6)."""
    now = now or utcnow()
    return next_full_reads([integration], {integration.id: next_scheduled_sync(integration, now)}, now)[integration.id]  # fmt: skip


def next_full_reads(
    integrations: list[OneRosterIntegration],
    planned: dict[int, datetime | None],
    now: datetime | None = None,
) -> dict[int, datetime | None]:
    """``next_full_read`` of each integration by id, given each one's next planned start
    (the list page has them already: ``run_views.overview``)."""
    now = now or utcnow()
    policy = current_app.config["SYNC_SCHEDULED_FULL_READ"]
    slots = next_full_read_slots(integrations, now, policy)
    reads: dict[int, datetime | None] = {}
    for integration in integrations:
        slot, start = slots[integration.id], planned.get(integration.id)
        if slot is not None and start is not None and start >= slot and start - slot < _DAY:
            slot = start
        reads[integration.id] = slot
    return reads


_DAY = timedelta(hours=24)


# -- a run's change rows --------------------------------------------------------------------


@dataclass(frozen=True)
class KindChanges:
    """One kind of a run's change set: its counts and the rows kept (the first ones)."""

    kind: str
    counts: dict
    rows: list[SyncChange]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def truncated(self) -> bool:
        return len(self.rows) < self.total


def run_changes(run: SyncRun, limit: int = 100) -> list[KindChanges]:
    """Every kind of the run's change set with up to ``limit`` of its rows each."""
    counts = run.changes or {}
    result = []
    for kind, changes in CHANGE_KINDS.items():
        rows = list(
            db.session.scalars(
                select(SyncChange)
                .where(SyncChange.run_id == run.id, SyncChange.kind == kind)
                .order_by(SyncChange.id)
                .limit(limit)
            )
        )
        kind_counts = {c: (counts.get(kind) or {}).get(c, 0) for c in changes}
        result.append(KindChanges(kind, kind_counts, rows))
    return result


def changes_csv(run: SyncRun, kind: str) -> Iterator[str]:
    """The kept rows of one kind as CSV (subject, change, reason), streamed."""
    if kind not in CHANGE_KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(["subject", "change", "reason"])
    yield flush()
    query = (
        select(SyncChange.subject, SyncChange.change, SyncChange.reason)
        .where(SyncChange.run_id == run.id, SyncChange.kind == kind)
        .order_by(SyncChange.id)
    )
    for subject, change, reason in db.session.execute(query):
        writer.writerow([_safe_cell(subject), change, reason or ""])
        yield flush()


def _safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (SIS names are not ours)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- deliberate removals announced ------------------------------------------------------------


@dataclass(frozen=True)
class Announcement:
    """What the next sync will remove because of an edit the admin is about to make."""

    classrooms: int = 0
    memberships: int = 0
    matched_users: int = 0

    @property
    def empty(self) -> bool:
        return not (self.classrooms or self.memberships or self.matched_users)

    @property
    def message(self) -> str:
        if self.empty:
            return ""
        parts = []
        if self.classrooms or self.memberships:
            parts.append(
                f"{self.classrooms:,} classroom{'s' * (self.classrooms != 1)} and "
                f"{self.memberships:,} membership{'s' * (self.memberships != 1)} this "
                "integration created"
            )
        if self.matched_users:
            parts.append(
                f"the matches of {self.matched_users:,} user{'s' * (self.matched_users != 1)} "
                "whose schools are all excluded"
            )
        return "The next sync will remove " + ", and ".join(parts) + "."


def announced_removals(
    integration: OneRosterIntegration, changes_to_settings: dict
) -> Announcement:
    """What the next sync will remove, from what is stored, if ``changes_to_settings``
    (``sync_classes``: bool, ``excluded_school_ids``: list) are saved: the classrooms and
    memberships of Sync Classroom Data turned off or of newly excluded schools, and the
    matched users left with no included school (docs/sync-rules.md rules 1 and 4). These
    removals are the admin's choice: they bypass the safety threshold."""
    iid = integration.id
    classes_off = integration.sync_classes and changes_to_settings.get("sync_classes") is False
    before = set(integration.excluded_school_ids or ())
    excluded = set(changes_to_settings.get("excluded_school_ids", before))
    newly = excluded - before
    rooms = select(Classroom.id).where(Classroom.integration_id == iid)
    if not classes_off:
        if not newly or not integration.sync_classes:
            rooms = None
        else:
            rooms = rooms.where(Classroom.school_sourced_id.in_(sorted(newly)))
    classrooms = memberships = 0
    if rooms is not None:
        classrooms = db.session.scalar(select(func.count()).select_from(rooms.subquery()))
        memberships = db.session.scalar(
            select(func.count()).where(ClassroomMember.classroom_id.in_(rooms))
        )
    users = 0
    if newly:
        orgs = db.session.execute(
            select(SisUser.org_ids)
            .join(
                SisUserLink,
                (SisUserLink.integration_id == SisUser.integration_id)
                & (SisUserLink.sis_sourced_id == SisUser.sourced_id),
            )
            .where(SisUser.integration_id == iid)
        ).scalars()
        for text in orgs:
            ids = [o for o in (text or "").split("\n") if o]
            if ids and all(o in excluded for o in ids) and not all(o in before for o in ids):
                users += 1
    return Announcement(classrooms or 0, memberships or 0, users)
