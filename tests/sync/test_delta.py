"""Delta syncs merge what changed and end equal to a full sync; Reset makes the next
sync full; Delete keeps classrooms, memberships and users."""

import pytest
from sqlalchemy import func, select

from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    DirectoryUser,
    ParentContact,
    SisEnrollment,
    SisUser,
    SisUserLink,
    SyncLogLine,
    SyncStatus,
    UnmatchedUser,
    UserKind,
)
from sisapp.services.integrations import delete_integration, reset_integration
from tests.sync.conftest import counts, snapshot

ALL_ON = {
    "respect_enrolment_date": True,
    "respect_academic_sessions": True,
    "sync_parents": True,
    "relationship_type": "parent",
}


def _comparable(integration_id):
    snap = snapshot(integration_id)
    snap["sis_org"] = [row[:2] for row in snap["sis_org"]]  # slice_read_at differs by design
    return snap


def _log(run) -> str:
    return "\n".join(db.session.scalars(select(SyncLogLine.message).where(SyncLogLine.run_id == run.id)))  # fmt: skip


def _expected(district, options):
    return district.expected_counts(
        respect_enrolment_date=options.get("respect_enrolment_date", False),
        respect_academic_sessions=options.get("respect_academic_sessions", False),
        parents=options.get("relationship_type"),
    )


@pytest.mark.parametrize("options", [{}, ALL_ON], ids=["defaults", "all-on"])
def test_delta_equals_full(make_integration, sync, district, options):
    integration = make_integration(**options)
    first = sync(integration)
    assert first.status is SyncStatus.SUCCEEDED
    summary = district.apply_changes(0.05)
    assert summary["deleted_users"] and summary["added"]
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    assert "changes since" in _log(delta) and delta.records_read < first.records_read / 3
    assert counts(delta) == _expected(district, options)

    # The directory changes too: an unmatched student gets a directory user, a matched
    # one loses theirs. Neither SIS record changed, yet the next delta must follow.
    unmatched = db.session.scalar(
        select(UnmatchedUser.email).where(UnmatchedUser.integration_id == integration.id,
                                          UnmatchedUser.role == "student", UnmatchedUser.email.is_not(None))
    )  # fmt: skip
    db.session.add(DirectoryUser(device_id=integration.device_id, email=unmatched, kind=UserKind.STUDENT))  # fmt: skip
    linked = db.session.scalar(select(SisUserLink.directory_user_id).where(SisUserLink.integration_id == integration.id))  # fmt: skip
    db.session.delete(db.session.get(DirectoryUser, linked))
    db.session.commit()
    district.apply_changes(0.02)
    again = sync(integration)
    assert again.status is SyncStatus.SUCCEEDED, again.error_message

    fresh = make_integration(**options)
    full = sync(fresh)
    assert full.status is SyncStatus.SUCCEEDED
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_reset_makes_the_next_sync_full(make_integration, sync, district):
    integration = make_integration()
    sync(integration)
    with district.lock:  # records vanish without a tobedeleted: only a full sync sees it
        victim = next(
            u for u in district.users if u["role"] == "student" and u["status"] == "active"
        )
        district.users.remove(victim)
        district.touch()
    sync(integration)
    mirrored = select(func.count()).where(SisUser.integration_id == integration.id, SisUser.sourced_id == victim["sourcedId"])  # fmt: skip
    assert db.session.scalar(mirrored) == 1
    reset_integration(integration)
    assert integration.last_sync_at is None
    run = sync(integration)
    assert "reading schools (full)" in _log(run)
    assert db.session.scalar(mirrored) == 0
    assert counts(run) == district.expected_counts()


def test_delete_keeps_classrooms_members_and_users(make_integration, sync):
    integration = make_integration(sync_parents=True, relationship_type="guardian")
    assert sync(integration).status is SyncStatus.SUCCEEDED

    def total(model):
        return db.session.scalar(select(func.count()).select_from(model))

    kept = {model: total(model) for model in (Classroom, ClassroomMember, DirectoryUser, ParentContact)}  # fmt: skip
    assert all(kept.values())
    delete_integration(integration)
    assert {model: total(model) for model in kept} == kept
    assert db.session.scalar(select(func.count()).where(Classroom.integration_id.is_not(None))) == 0
    for model in (SisUser, SisEnrollment, SisUserLink):
        assert total(model) == 0
