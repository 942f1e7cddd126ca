"""Each numbered rule of issue 5 against the demo SIS's expected counts."""

import itertools

from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    ParentContact,
    RelationshipType,
    SisUserLink,
    SyncLogLine,
    SyncStatus,
    UnmatchedUser,
)
from sisapp.services.integrations import set_excluded_schools
from tests.helpers.sync_state import counts


def _stored(integration_id: int) -> dict:
    """The Sync Details counts as the stored rows say them."""

    def count(query):
        return db.session.scalar(query)

    links = dict(
        db.session.execute(
            select(SisUserLink.role, func.count())
            .where(SisUserLink.integration_id == integration_id)
            .group_by(SisUserLink.role)
        ).all()
    )
    return {
        "unmatched_users": count(
            select(func.count()).where(UnmatchedUser.integration_id == integration_id)
        ),
        "matched_students": links.get("student", 0),
        "matched_teachers": links.get("teacher", 0),
        "imported_classes": count(
            select(func.count()).where(Classroom.integration_id == integration_id)
        ),
        "parents": count(
            select(func.count(ParentContact.sis_parent_id.distinct())).where(
                ParentContact.integration_id == integration_id
            )
        ),
    }


def test_default_options_match_expected_counts(make_integration, sync, district):
    integration = make_integration()
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert counts(run) == district.expected_counts() == _stored(integration.id)
    assert run.full is False and run.finished_at and run.started_at and run.heartbeat_at
    assert run.records_read > 0 and run.phase == "done"
    assert integration.last_sync_at == run.started_at or integration.last_sync_at >= run.started_at
    assert {s["sourced_id"] for s in integration.schools} == {
        s["sourcedId"] for s in district.schools
    }
    assert not integration.needs_sync and integration.detected_version and integration.detected_auth
    members = db.session.scalar(select(func.count()).select_from(ClassroomMember))
    assert members > 1000


def test_every_option_combination(make_integration, sync, district):
    """All 32 combinations, switching options between syncs (delta and full alternate)."""
    integration = make_integration()
    combos = itertools.product(
        (True, False), (False, True), (False, True), (None, *RelationshipType)
    )
    for n, (classes, enrol, sessions, parents) in enumerate(combos):
        integration.sync_classes = classes
        integration.respect_enrolment_date = enrol
        integration.respect_academic_sessions = sessions
        integration.sync_parents = parents is not None
        integration.relationship_type = parents
        db.session.commit()
        run = sync(integration, full=n % 3 == 0)
        expected = district.expected_counts(
            classes=classes,
            respect_enrolment_date=enrol,
            respect_academic_sessions=sessions,
            parents=parents.value if parents else None,
        )
        label = (classes, enrol, sessions, parents)
        assert run.status is SyncStatus.SUCCEEDED, (label, run.error_code, run.error_message)
        assert counts(run) == expected == _stored(integration.id), label


def test_excluded_schools_are_skipped_and_come_back(make_integration, sync, district):
    integration = make_integration(sync_parents=True, relationship_type="guardian")
    assert sync(integration).status is SyncStatus.SUCCEEDED
    excluded = [district.schools[1]["sourcedId"]]
    set_excluded_schools(integration, excluded)
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    expected = district.expected_counts(parents="guardian", excluded_schools=excluded)
    assert counts(run) == expected == _stored(integration.id)
    schools = set(db.session.scalars(select(Classroom.school_sourced_id).where(Classroom.integration_id == integration.id)))  # fmt: skip
    assert excluded[0] not in schools
    set_excluded_schools(integration, [])
    run = sync(integration)
    assert counts(run) == district.expected_counts(parents="guardian") == _stored(integration.id)


def test_log_has_phases_counts_and_warnings(make_integration, sync):
    run = sync(make_integration(sync_parents=True, relationship_type="parent"))
    lines = list(db.session.scalars(select(SyncLogLine.message).where(SyncLogLine.run_id == run.id).order_by(SyncLogLine.id)))  # fmt: skip
    text = "\n".join(lines)
    for needle in ("reading schools (full)", "reading users", "duplicate email", "other roles",
                   "administrator", "parents skipped", "applied in", "pages"):  # fmt: skip
        assert needle in text, needle
    assert run.log_truncated == 0
