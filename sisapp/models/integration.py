"""A OneRoster integration: where the SIS is, how to sign in, and what to sync."""

import enum
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sisapp.extensions import db
from sisapp.models.types import UTCDateTime, utcnow


class SisVendor(enum.StrEnum):
    POWERSCHOOL = "powerschool"
    ELLUCIAN = "ellucian"
    ESCHOOLPLUS = "eschoolplus"
    ILLUMINATE = "illuminate"
    UNIT4 = "unit4"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "powerschool": "PowerSchool",
            "ellucian": "Ellucian",
            "eschoolplus": "eSchoolPlus",
            "illuminate": "Illuminate Education",
            "unit4": "Unit4",
            "other": "Other",
        }[self.value]


class RelationshipType(enum.StrEnum):
    PARENT = "parent"
    RELATIVE = "relative"
    GUARDIAN = "guardian"

    @property
    def label(self) -> str:
        return self.value.capitalize()


def _enum(cls):
    return Enum(cls, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class OneRosterIntegration(db.Model):
    __tablename__ = "oneroster_integration"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    sis_vendor: Mapped[SisVendor] = mapped_column(_enum(SisVendor))
    endpoint_url: Mapped[str] = mapped_column(String(500))
    token_url: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Fernet token; the plaintext is never stored, logged or rendered.
    client_secret_encrypted: Mapped[str] = mapped_column(Text)

    sync_classes: Mapped[bool] = mapped_column(Boolean, default=True)
    respect_enrolment_date: Mapped[bool] = mapped_column(Boolean, default=False)
    respect_academic_sessions: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_parents: Mapped[bool] = mapped_column(Boolean, default=False)
    relationship_type: Mapped[RelationshipType | None] = mapped_column(_enum(RelationshipType))

    # [{"sourced_id": ..., "name": ...}] as last read from the SIS.
    schools: Mapped[list] = mapped_column(JSON, default=list)
    excluded_school_ids: Mapped[list] = mapped_column(JSON, default=list)

    # Cleared by Reset: the next sync is then a full one.
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When Reset last cleared last_sync_at (the row says the next sync reads everything).
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    needs_sync: Mapped[bool] = mapped_column(Boolean, default=False)
    # One-time consent to apply a sync that removes more than the safety threshold.
    allow_large_removals: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the stored matches were computed under, and the counts that go with them,
    # so a delta re-matches only the users it touched (``sisapp.sync.rematch``).
    match_basis: Mapped[dict | None] = mapped_column(JSON)
    # Most requests in flight to this SIS at once (some vendors allow 5 or fewer);
    # None: the sync's default (SYNC_CONCURRENCY).
    max_concurrency: Mapped[int | None] = mapped_column(Integer)

    # What discovery found, remembered so later syncs skip probing.
    detected_version: Mapped[str | None] = mapped_column(String(10))
    detected_auth: Mapped[str | None] = mapped_column(String(30))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    device = relationship("Device")

    @property
    def endpoint_host(self) -> str:
        return urlsplit(self.endpoint_url).netloc or self.endpoint_url

    def is_school_excluded(self, sourced_id: str) -> bool:
        return sourced_id in set(self.excluded_school_ids or ())
