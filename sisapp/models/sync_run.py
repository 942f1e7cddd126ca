"""The record of one sync: the database row is the truth, Redis only carries the job."""

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from sisapp.extensions import db
from sisapp.models.types import UTCDateTime, utcnow


class SyncStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The safety threshold refused the run's removals; nothing was applied (SY200).
    BLOCKED = "blocked"
    # A preview run computed its change set and rolled it back.
    PREVIEW = "preview"

    @property
    def is_active(self) -> bool:
        return self in (SyncStatus.QUEUED, SyncStatus.RUNNING)


class SyncTrigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    CLI = "cli"
    # A preview: reads and computes like a sync, applies nothing, is never "the last sync".
    PREVIEW = "preview"


def _enum(cls):
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


# A run is "active" while queued or running; the database allows one sync per integration,
# and one preview beside it (a preview never holds up a sync).
_ACTIVE_SQL = text("status IN ('queued', 'running') AND \"trigger\" <> 'preview'")
_PREVIEW_SQL = text("status IN ('queued', 'running') AND \"trigger\" = 'preview'")

# The kinds of a change set and the changes each counts (docs/sync-rules.md rule 12).
CHANGE_KINDS = {
    "matched_users": ("added", "removed"),
    "unmatched_users": ("added", "removed"),
    "classrooms": ("added", "removed", "renamed"),
    "memberships": ("added", "removed"),
    "parents": ("added", "removed"),
}


def empty_changes() -> dict:
    return {kind: dict.fromkeys(changes, 0) for kind, changes in CHANGE_KINDS.items()}


class SyncRun(db.Model):
    __tablename__ = "sync_run"
    # The one-run-per-integration rule is enforced here, not in Redis: two web processes
    # (or machines) asking at the same instant race on this index and exactly one wins.
    __table_args__ = (
        Index(
            "uq_sync_run_one_active",
            "integration_id",
            unique=True,
            postgresql_where=_ACTIVE_SQL,
            sqlite_where=_ACTIVE_SQL,
        ),
        Index(
            "uq_sync_run_one_preview",
            "integration_id",
            unique=True,
            postgresql_where=_PREVIEW_SQL,
            sqlite_where=_PREVIEW_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Runs outlive a deleted integration only as history; they go with it.
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("oneroster_integration.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[SyncTrigger] = mapped_column(_enum(SyncTrigger), default=SyncTrigger.MANUAL)
    status: Mapped[SyncStatus] = mapped_column(_enum(SyncStatus), default=SyncStatus.QUEUED)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str] = mapped_column(String(40), default="queued")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    records_read: Mapped[int] = mapped_column(Integer, default=0)
    # Records read so far by collection ("users", "classes", ...) and, where the SIS sent an
    # X-Total-Count for a whole collection, how many it said to expect ("users_expected").
    read_counts: Mapped[dict | None] = mapped_column(JSON)

    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written with progress; the sweep treats a silent running run as dead.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    job_id: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # When Cancel was first pressed: a run that ignores it past a grace period is stopped hard.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The Tue/Fri 6 PM slot a scheduled run belongs to; catch-up uses it to fire each once.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())

    unmatched_users: Mapped[int | None] = mapped_column(Integer)
    matched_students: Mapped[int | None] = mapped_column(Integer)
    matched_teachers: Mapped[int | None] = mapped_column(Integer)
    imported_classes: Mapped[int | None] = mapped_column(Integer)
    parents: Mapped[int | None] = mapped_column(Integer)

    # What the run changed (or, blocked or a preview, would have changed), by kind:
    # ``CHANGE_KINDS`` counts; None for a run that ended before computing it.
    changes: Mapped[dict | None] = mapped_column(JSON)

    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    log_truncated: Mapped[int] = mapped_column(Integer, default=0)
    # When the admins' emails about this run's end were queued: they are sent once per run.
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_preview(self) -> bool:
        return self.trigger is SyncTrigger.PREVIEW

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    def details(self) -> dict:
        return {
            "status": self.status.value,
            "unmatched_users": self.unmatched_users,
            "matched_students": self.matched_students,
            "matched_teachers": self.matched_teachers,
            "imported_classes": self.imported_classes,
            "parents": self.parents,
            "error_code": self.error_code,
            "message": self.error_message,
            "changes": self.changes if self.changes is not None else empty_changes(),
        }


class SyncLogLine(db.Model):
    __tablename__ = "sync_log_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)


class SyncChange(db.Model):
    """One row of a run's change set (at most SYNC_CHANGE_ROWS_PER_KIND per kind; the
    counts on ``SyncRun.changes`` are complete)."""

    __tablename__ = "sync_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    change: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(60))
