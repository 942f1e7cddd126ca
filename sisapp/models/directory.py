"""Directory users: created by a directory service (LDAP, Azure, Google), never by SIS data."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sisapp.extensions import db
from sisapp.models.types import UTCDateTime, utcnow


def normalise_email(email: str | None) -> str:
    """The form emails are compared in: SIS exports carry stray spaces and mixed case."""
    return (email or "").strip().lower()


class UserKind(enum.StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    STAFF = "staff"


class DirectoryUser(db.Model):
    __tablename__ = "directory_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    # Stored normalised; uniqueness per device is what makes email matching unambiguous.
    email: Mapped[str] = mapped_column(String(254))
    given_name: Mapped[str] = mapped_column(String(120), default="")
    family_name: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[UserKind] = mapped_column(
        Enum(UserKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    source: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("device_id", "email", name="uq_directory_user_device_email"),
    )

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.email
