"""Tenancy: a Device is one School Manager appliance; its admins see only its data."""

import enum
import hmac
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Enum, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from sisapp.extensions import db
from sisapp.models.types import UTCDateTime, utcnow


class Region(enum.StrEnum):
    US_NZ = "us_nz"
    AU = "au"
    UK = "uk"

    @property
    def label(self) -> str:
        return {"us_nz": "US / NZ", "au": "Australia", "uk": "United Kingdom"}[self.value]

    @property
    def timezone(self) -> str:
        """The zone whose 6 PM starts this region's scheduled syncs."""
        return {"us_nz": "America/Chicago", "au": "Australia/Perth", "uk": "UTC"}[self.value]


class Device(db.Model):
    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    region: Mapped[Region] = mapped_column(
        Enum(Region, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    admins: Mapped[list["AdminUser"]] = relationship(back_populates="device")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class AdminUser(UserMixin, db.Model):
    """A device admin. Sessions and remember-me cookies carry `session_token`, so
    rotating it (sign-out, a new password, age) ends every session captured before."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lowercased, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    session_token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Email when a sync of the device fails, is partial or blocked, and when it recovers.
    notify_sync_results: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    device: Mapped[Device] = relationship(back_populates="admins")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.rotate_session_token()

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()
        self.session_token_issued_at = utcnow()

    def get_id(self) -> str:
        """Flask-Login's user id, stored in the session and the remember-me cookie."""
        return f"{self.id}:{self.session_token}"

    def has_session_token(self, token: str) -> bool:
        return bool(self.session_token) and hmac.compare_digest(
            self.session_token.encode(), token.encode()
        )

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)
