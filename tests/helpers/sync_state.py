"""What a sync stored, as plain comparable values: run counts, every synced row of an
integration, staging tables left behind, the run's log."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    DirectoryUser,
    OneRosterIntegration,
    ParentContact,
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
    SisUserLink,
    SyncLogLine,
    SyncRun,
    UnmatchedUser,
)

COUNT_KEYS = ("unmatched_users", "matched_students", "matched_teachers", "imported_classes")


def counts(run) -> dict:
    keys = (
        "unmatched_users",
        "matched_students",
        "matched_teachers",
        "imported_classes",
        "parents",
    )
    return {key: getattr(run, key) for key in keys}


SNAPSHOT_MODELS = {
    SisOrg: ("sourced_id", "name", "slice_read_at"),
    SisSession: ("sourced_id", "start_date", "end_date"),
    SisUser: (
        "sourced_id",
        "role",
        "enabled",
        "email",
        "given_name",
        "family_name",
        "org_ids",
        "agent_ids",
    ),  # fmt: skip
    SisClass: ("sourced_id", "school_id", "title", "class_code", "term_ids"),
    SisEnrollment: (
        "sourced_id",
        "school_id",
        "user_id",
        "class_id",
        "role",
        "begin_date",
        "end_date",
    ),  # fmt: skip
    SisUserLink: ("sis_sourced_id", "directory_user_id", "role"),
    UnmatchedUser: ("sis_sourced_id", "name", "role", "email", "school_name"),
    ParentContact: (
        "student_user_id",
        "sis_parent_id",
        "given_name",
        "family_name",
        "email",
        "phone",
        "relationship",
    ),  # fmt: skip
}


def snapshot(integration_id: int, *, derived_only: bool = False, on=None) -> dict:
    """Every synced row of an integration as sorted tuples (ids left out), read through
    ``on`` (a connection or session; the test's session by default)."""
    on = db.session if on is None else on
    result = {}
    for model, columns in SNAPSHOT_MODELS.items():
        if derived_only and model.__tablename__.startswith("sis_") and model is not SisUserLink:
            continue
        rows = on.execute(
            select(*(getattr(model, c) for c in columns)).where(
                model.integration_id == integration_id
            )
        )
        result[model.__tablename__] = sorted(tuple(row) for row in rows)
    classrooms = on.execute(
        select(Classroom.sis_sourced_id, Classroom.name, Classroom.code, Classroom.school_sourced_id)
        .where(Classroom.integration_id == integration_id)
    )  # fmt: skip
    result["classroom"] = sorted(tuple(row) for row in classrooms)
    members = on.execute(
        select(Classroom.sis_sourced_id, ClassroomMember.directory_user_id, ClassroomMember.role)
        .join(Classroom, Classroom.id == ClassroomMember.classroom_id)
        .where(Classroom.integration_id == integration_id)
    )  # fmt: skip
    result["classroom_member"] = sorted(tuple(row) for row in members)
    return result


def leftover_stage_tables() -> int:
    """Staging tables (temporary tables of a run's connection) still alive anywhere.

    PostgreSQL lists every session's temporary tables in pg_class. A SQLite temporary
    table is seen only by its own connection: every idle connection of the pool (where
    a run's connection goes back) is asked.
    """
    db.session.rollback()
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return db.session.scalar(
            text(
                "SELECT count(*) FROM pg_class WHERE relpersistence = 't' "
                "AND relname IN ('sis_stage_user', 'sis_stage_class', 'sis_stage_enrollment')"
            )
        )
    checkedin = getattr(engine.pool, "checkedin", lambda: 0)()
    connections = [engine.connect() for _ in range(checkedin + 1)]
    try:
        return sum(
            c.exec_driver_sql(
                "SELECT count(*) FROM sqlite_temp_master WHERE type = 'table' "
                "AND name LIKE 'sis_stage_%'"
            ).scalar()
            for c in connections
        )
    finally:
        for c in connections:
            c.close()


def stored_state(integration_id: int) -> dict:
    """Everything a sync may write for the integration, as comparable plain values."""
    db.session.rollback()  # read what other processes committed
    state = snapshot(integration_id)
    integration = db.session.get(OneRosterIntegration, integration_id)
    state["integration"] = (
        integration.last_sync_at,
        integration.needs_sync,
        json.dumps(integration.schools, sort_keys=True),
        integration.detected_version,
        integration.detected_auth,
        integration.allow_large_removals,
    )
    state["directory_user"] = directory_rows(integration.device_id)
    return state


def directory_rows(device_id: int) -> list[tuple]:
    """The device's directory (which a sync never changes), as sorted tuples."""
    rows = db.session.execute(
        select(
            DirectoryUser.email,
            DirectoryUser.given_name,
            DirectoryUser.family_name,
            DirectoryUser.kind,
            DirectoryUser.source,
        ).where(DirectoryUser.device_id == device_id)
    )
    return sorted(tuple(row) for row in rows)


def synced_data(integration_id: int) -> dict:
    """The synced tables without the read times (for comparing two integrations)."""
    db.session.rollback()
    data = snapshot(integration_id)
    data["sis_org"] = [row[:2] for row in data["sis_org"]]  # slice_read_at: when read
    return data


def staged_rows() -> int:
    """Staging tables left on any connection (a finished, failed or killed run leaves none)."""
    return leftover_stage_tables()


def detail_counts(run: SyncRun) -> dict:
    return {key: value for key, value in counts(run).items() if key in COUNT_KEYS}


def expected(district, **options) -> dict:
    return {k: v for k, v in district.expected_counts(**options).items() if k in COUNT_KEYS}


def log_lines(run_id: int) -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(SyncLogLine.message).where(SyncLogLine.run_id == run_id).order_by(SyncLogLine.id)
        )
    )
