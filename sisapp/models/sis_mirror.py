"""What the SIS holds, per integration (the mirror).

A sync never writes the mirror while it reads: records go to staging rows (temporary
tables of the run's connection, ``sisapp.sync.stage``), page by page, and one
transaction at the end merges them into the mirror and
recomputes the product tables (``roster``). A crash, a cancel or a failure therefore
leaves the mirror as the last good sync left it. A delta sync merges only what changed
into the mirror and then recomputes from the whole mirror, which is why a delta ends
equal to a full sync.

Only active records are kept in the mirror (``tobedeleted`` removes); columns are the
few the rules need, so a district of a million enrollments stays compact.
"""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sisapp.extensions import db
from sisapp.models.types import UTCDateTime

ID_LENGTH = 255
NAME_LENGTH = 255


def _integration_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("oneroster_integration.id", ondelete="CASCADE"))


class _UserFields:
    sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    role: Mapped[str | None] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Normalised (trimmed, lowercased); empty when the SIS has none.
    email: Mapped[str] = mapped_column(String(254), default="")
    given_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    family_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    phone: Mapped[str | None] = mapped_column(String(60))
    # sourcedIds joined by newlines: read together with the user, never queried alone.
    org_ids: Mapped[str] = mapped_column(Text, default="")
    agent_ids: Mapped[str] = mapped_column(Text, default="")


class _ClassFields:
    sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # The school whose per-school read delivered the class: the unit of a partial apply.
    school_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    title: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    class_code: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    term_ids: Mapped[str] = mapped_column(Text, default="")


class _EnrollmentFields:
    sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    school_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    class_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    role: Mapped[str | None] = mapped_column(String(40))
    begin_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


# --- the mirror -------------------------------------------------------------------------


class SisOrg(db.Model):
    """A school (or other org) the SIS listed, with when its own data was last read."""

    __tablename__ = "sis_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = _integration_fk()
    sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    type: Mapped[str | None] = mapped_column(String(40))
    # Start of the sync that last read this school's classes and enrollments: the
    # per-school delta point. None: read it in full next time (new, re-included, failed).
    slice_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("integration_id", "sourced_id", name="uq_sis_org_key"),)


class SisSession(db.Model):
    """An academic session (term, semester, school year)."""

    __tablename__ = "sis_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = _integration_fk()
    sourced_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("integration_id", "sourced_id", name="uq_sis_session_key"),)


class SisUser(_UserFields, db.Model):
    __tablename__ = "sis_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = _integration_fk()

    __table_args__ = (UniqueConstraint("integration_id", "sourced_id", name="uq_sis_user_key"),)


class SisClass(_ClassFields, db.Model):
    __tablename__ = "sis_class"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = _integration_fk()

    __table_args__ = (
        UniqueConstraint("integration_id", "sourced_id", name="uq_sis_class_key"),
        Index("ix_sis_class_school", "integration_id", "school_id"),
    )


class SisEnrollment(_EnrollmentFields, db.Model):
    __tablename__ = "sis_enrollment"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = _integration_fk()

    __table_args__ = (
        UniqueConstraint("integration_id", "sourced_id", name="uq_sis_enrollment_key"),
        Index("ix_sis_enrollment_school", "integration_id", "school_id"),
    )
