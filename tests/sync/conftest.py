"""Fixtures for the sync engine tests: a live demo SIS on port 0 with a small district,
the device's directory imported from it, and helpers to create an integration and run
a sync in the foreground.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import (
    Classroom,
    ClassroomMember,
    ParentContact,
    SisClass,
    SisEnrollment,
    SisOrg,
    SisSession,
    SisUser,
    SisUserLink,
    SyncRun,
    UnmatchedUser,
)
from sisapp.services.directory import import_directory_csv
from sisapp.services.integrations import IntegrationData, create_integration
from sisapp.sync import SyncEnvironment, run_sync

TODAY = date(2026, 2, 10)
CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret-9f3k2"
SPEC = DistrictSpec(schools=3, students=300, seed=11, today=TODAY)


@pytest.fixture
def district():
    return generate_district(SPEC)


@pytest.fixture
def sis(district):
    server = DemoSISServer(district, client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def box(app):
    return SecretBox(app.config["ENCRYPTION_KEY"])


@pytest.fixture
def directory(device, district, tmp_path):
    path = tmp_path / "directory.csv"
    district.write_directory_csv(path)
    import_directory_csv(device, path.read_text())
    return device


@pytest.fixture
def make_integration(directory, sis, box):
    def make(**options):
        data = IntegrationData(
            name="Demo SIS",
            sis_vendor="other",
            endpoint_url=sis.root_url,
            token_url=sis.token_url,
            client_id=CLIENT_ID,
            client_secret=options.pop("secret", CLIENT_SECRET),
            **options,
        )
        return create_integration(directory.id, data, box)

    return make


@pytest.fixture
def sync(box):
    """Run one sync of an integration in the foreground and return the finished run."""

    def run(integration, full=False, **env):
        record = SyncRun(integration_id=integration.id, device_id=integration.device_id, full=full)
        db.session.add(record)
        db.session.commit()
        settings = {"box": box, "allow_private": True, "today": TODAY, "page_size": 100}
        settings["client_options"] = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05}
        settings.update(env)
        return run_sync(record.id, SyncEnvironment(**settings))

    return run


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
