"""Read-only views of sync runs for the admin pages: the list, the status fragment's run,
the log (tail first, paged backwards, streamed as a download) and the unmatched users.

Every lookup takes the device id, so a run of another device reads as missing. A run of
a large district writes hundreds of thousands of log lines: pages are keyset-paged by
line id and downloads stream in batches, never loading a run's log at once.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration, SyncLogLine, SyncRun, SyncStatus, SyncTrigger
from sisapp.models.roster import UnmatchedUser
from sisapp.services.integrations import list_integrations
from sisapp.services.sync_runs import next_scheduled_syncs

LOG_PAGE_SIZE = 200
UNMATCHED_PAGE_SIZE = 100
_BATCH = 2000


# Built once: the status fragment polls run_of every two seconds per open page, and
# building the statement cost as much as running it.
_RUN_OF = select(SyncRun).where(
    SyncRun.id == bindparam("run_id"),
    SyncRun.device_id == bindparam("device_id"),
    SyncRun.integration_id == bindparam("integration_id"),
)


def run_of(device_id: int, integration_id: int, run_id: int) -> SyncRun | None:
    """One small query: the status fragment polls this every two seconds."""
    return db.session.scalar(
        _RUN_OF, {"run_id": run_id, "device_id": device_id, "integration_id": integration_id}
    )


def latest_runs(integrations: list[OneRosterIntegration]) -> dict[int, SyncRun]:
    """The newest run of each integration, in one query for the whole list."""
    ids = [i.id for i in integrations]
    if not ids:
        return {}
    newest = (
        select(func.max(SyncRun.id))
        .where(SyncRun.integration_id.in_(ids), SyncRun.trigger != SyncTrigger.PREVIEW)
        .group_by(SyncRun.integration_id)
    ).scalar_subquery()
    runs = db.session.scalars(select(SyncRun).where(SyncRun.id.in_(newest)))
    return {run.integration_id: run for run in runs}


@dataclass(frozen=True)
class RunBasis:
    """What the last succeeded run of the same kind took: the basis of a time estimate."""

    seconds: float
    records: int

    def to_param(self) -> str:
        """Carried in the polling URL, so a poll costs no query for it."""
        return f"{int(self.seconds)}:{self.records}"

    @classmethod
    def from_param(cls, text: str | None) -> "RunBasis | None":
        try:
            seconds, records = (int(part) for part in (text or "").split(":"))
        except ValueError:
            return None
        return cls(seconds, records) if seconds > 0 and records >= 0 else None


def previous_basis(run: SyncRun) -> RunBasis | None:
    """The newest succeeded run of the run's integration (full or delta alike), if any."""
    previous = db.session.execute(
        select(SyncRun.started_at, SyncRun.finished_at, SyncRun.records_read)
        .where(
            SyncRun.integration_id == run.integration_id,
            SyncRun.id < run.id,
            SyncRun.full == run.full,
            SyncRun.status == SyncStatus.SUCCEEDED,
            SyncRun.started_at.is_not(None),
            SyncRun.finished_at.is_not(None),
        )
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    if previous is None:
        return None
    started, finished, records = previous
    return RunBasis((finished - started).total_seconds(), records or 0)


@dataclass
class LogPage:
    lines: list[SyncLogLine]
    total: int
    # Pass as `before` to read the lines just above this page; None at the first line.
    earlier: int | None


def log_page(run: SyncRun, before: int | None = None, limit: int = LOG_PAGE_SIZE) -> LogPage:
    """The last `limit` lines before line id `before` (the tail when None), oldest first."""
    query = select(SyncLogLine).where(SyncLogLine.run_id == run.id)
    if before is not None:
        query = query.where(SyncLogLine.id < before)
    newest_first = list(db.session.scalars(query.order_by(SyncLogLine.id.desc()).limit(limit + 1)))
    more = len(newest_first) > limit
    lines = list(reversed(newest_first[:limit]))
    total = db.session.scalar(
        select(func.count()).select_from(SyncLogLine).where(SyncLogLine.run_id == run.id)
    )
    return LogPage(lines=lines, total=total or 0, earlier=lines[0].id if more and lines else None)


def iter_log_text(run: SyncRun) -> Iterator[str]:
    """The whole log as text lines, read in id-ordered batches (for a streamed download)."""
    yield f"# sync run {run.id} ({run.trigger.value}, {run.status.value})\n"
    after = 0
    while True:
        # Plain rows, not ORM objects: the session's identity map must not grow.
        batch = db.session.execute(
            select(SyncLogLine.id, SyncLogLine.at, SyncLogLine.level, SyncLogLine.message)
            .where(SyncLogLine.run_id == run.id, SyncLogLine.id > after)
            .order_by(SyncLogLine.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        yield "".join(
            f"{at.isoformat(timespec='seconds')} {level.upper():7} {message}\n"
            for _id, at, level, message in batch
        )
        after = batch[-1][0]
    if run.log_truncated:
        yield f"# {run.log_truncated} further lines were not kept\n"


def unmatched_page(
    integration: OneRosterIntegration, page: int = 1, per_page: int = UNMATCHED_PAGE_SIZE
):
    """A pagination of the integration's unmatched SIS users (as of its last sync), by name.

    Every sync leaves the whole list current (a delta replaces the rows of the users it
    matched again, ``sisapp.sync.rematch``), so the integration's rows are the list.
    """
    model = UnmatchedUser
    query = (
        select(model).where(model.integration_id == integration.id).order_by(model.name, model.id)
    )
    return db.paginate(query, page=page, per_page=per_page, max_per_page=500, error_out=False)


UNMATCHED_COLUMNS = ("sis_sourced_id", "name", "role", "email", "school_name")


def iter_unmatched_csv(integration: OneRosterIntegration) -> Iterator[str]:
    """CSV of the unmatched users in the page's order (name, then id), streamed in
    keyset batches."""
    model = UnmatchedUser
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["SIS ID", "Name", "Role", "Email", "School"])
    after: tuple[str, int] | None = None
    columns = [getattr(model, c) for c in UNMATCHED_COLUMNS]
    while True:
        query = select(model.id, *columns).where(model.integration_id == integration.id)
        if after is not None:
            name, last_id = after
            query = query.where(
                or_(model.name > name, and_(model.name == name, model.id > last_id))
            )
        batch = db.session.execute(query.order_by(model.name, model.id).limit(_BATCH)).all()
        for row in batch:
            writer.writerow([_csv_safe(value or "") for value in row[1:]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if not batch:
            break
        after = (batch[-1].name, batch[-1].id)


def _csv_safe(value) -> str:
    """Neutralise spreadsheet formulas: SIS names are untrusted text."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def settings_changed(integration: OneRosterIntegration, run: SyncRun | None) -> bool:
    """ "Settings changed since the last sync": only once a sync was asked for, and only
    for changes made after it (a never-synced integration has nothing to compare with)."""
    if run is None or not integration.needs_sync:
        return False
    return integration.updated_at > run.queued_at


@dataclass
class IntegrationRow:
    integration: OneRosterIntegration
    run: SyncRun | None
    next_sync: datetime | None

    @property
    def basis(self) -> RunBasis | None:
        """The time estimate's basis, for a running run only."""
        if self.run is None or not self.run.status.is_active:
            return None
        return previous_basis(self.run)

    @property
    def settings_changed(self) -> bool:
        """The banner is not shown while a sync runs (its end re-decides it)."""
        if self.run is not None and self.run.status.is_active:
            return False
        return settings_changed(self.integration, self.run)


def overview(device_id: int) -> list[IntegrationRow]:
    """The list page: each integration with its newest run and next scheduled sync."""
    integrations = list_integrations(device_id)
    runs = latest_runs(integrations)
    starts = next_scheduled_syncs(integrations)
    return [IntegrationRow(i, runs.get(i.id), starts[i.id]) for i in integrations]
