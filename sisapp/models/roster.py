"""What a sync produces in School Manager: matched users, classrooms and their members,
parent contacts, and the list of SIS users that matched nobody.

These rows are derived from the SIS mirror (``sis_mirror``) by the sync engine and
replaced as a whole-state diff on each sync. Classrooms and parent contacts belong to
the device: deleting an integration only detaches them (``integration_id`` becomes
NULL), so the school keeps its classes. Directory users are never created here.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sisapp.extensions import db
from sisapp.models.sis_mirror import ID_LENGTH, NAME_LENGTH
from sisapp.models.types import UTCDateTime, utcnow


class SisUserLink(db.Model):
    """A SIS student or teacher matched to a directory user (by email) for one integration."""

    __tablename__ = "sis_user_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("oneroster_integration.id", ondelete="CASCADE")
    )
    directory_user_id: Mapped[int] = mapped_column(
        ForeignKey("directory_user.id", ondelete="CASCADE"), index=True
    )
    sis_sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    role: Mapped[str] = mapped_column(String(10))  # "student" or "teacher"

    __table_args__ = (
        UniqueConstraint("integration_id", "sis_sourced_id", name="uq_sis_user_link_sis"),
        UniqueConstraint("integration_id", "directory_user_id", name="uq_sis_user_link_user"),
    )


class Classroom(db.Model):
    """A class imported from the SIS; kept (detached) when its integration is deleted."""

    __tablename__ = "classroom"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("oneroster_integration.id", ondelete="SET NULL")
    )
    sis_sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    code: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    school_sourced_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    school_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("integration_id", "sis_sourced_id", name="uq_classroom_sis"),
    )


class ClassroomMember(db.Model):
    """A teacher or student of a classroom (from the SIS enrollments)."""

    __tablename__ = "classroom_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classroom.id", ondelete="CASCADE"))
    directory_user_id: Mapped[int] = mapped_column(
        ForeignKey("directory_user.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))

    __table_args__ = (
        UniqueConstraint("classroom_id", "directory_user_id", name="uq_classroom_member_pair"),
    )


class ParentContact(db.Model):
    """A parent, guardian or relative of a matched student, as the SIS lists them."""

    __tablename__ = "parent_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("oneroster_integration.id", ondelete="SET NULL")
    )
    student_user_id: Mapped[int] = mapped_column(
        ForeignKey("directory_user.id", ondelete="CASCADE"), index=True
    )
    sis_parent_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    given_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    family_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(60))
    relationship: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        UniqueConstraint(
            "integration_id", "student_user_id", "sis_parent_id", name="uq_parent_contact_pair"
        ),
    )


class UnmatchedUser(db.Model):
    """A SIS student or teacher whose email is missing or unknown to the directory."""

    __tablename__ = "unmatched_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("oneroster_integration.id", ondelete="CASCADE")
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    sis_sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    name: Mapped[str] = mapped_column(String(2 * NAME_LENGTH + 1), default="")
    role: Mapped[str] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254))
    school_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (Index("ix_unmatched_user_integration", "integration_id", "name"),)
