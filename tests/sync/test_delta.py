"""Delta syncs merge what changed and end equal to a full sync; Reset makes the next
sync full; Delete keeps classrooms, memberships and users."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update

from sisapp.demo_sis.district import timestamp
from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    DirectoryUser,
    ParentContact,
    SisEnrollment,
    SisOrg,
    SisUser,
    SisUserLink,
    SyncLogLine,
    SyncStatus,
    UnmatchedUser,
    UserKind,
)
from sisapp.oneroster import ErrorCode, OneRosterClient, OneRosterError
from sisapp.services.integrations import delete_integration, reset_integration, set_excluded_schools
from sisapp.sync import memberships
from tests.helpers.sync_state import counts, snapshot

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


INCREMENTAL = {"respect_academic_sessions": True, "sync_parents": True, "relationship_type": "parent"}  # fmt: skip


def _stamped(district, edit) -> None:
    """Edit the district as a SIS would: touched records are stamped modified now."""
    stamp = timestamp(datetime.now(UTC))
    with district.lock:
        for record in edit():
            record["dateLastModified"] = stamp
        district.touch()


def _roster_edits(district):
    """Edits that move memberships and matches without Respect Enrolment Date."""
    users = {u["sourcedId"]: u for u in district.users}
    active = [e for e in district.enrollments if e["status"] == "active" and e["role"] == "student"]
    classes = [c for c in district.classes if c["status"] == "active"]
    known = district.directory_emails()
    students = [u for u in district.users if u["role"] == "student" and u["status"] == "active" and (u.get("email") or "").strip().lower() in known]  # fmt: skip
    moved, doubled, dropped = active[0], active[1], active[2]
    moved["class"] = district.ref("class", next(c["sourcedId"] for c in classes if c["sourcedId"] != moved["class"]["sourcedId"]))  # fmt: skip
    twin = {**doubled, "sourcedId": "enr-twin-of-" + doubled["sourcedId"]}
    district.enrollments.append(twin)
    dropped["status"] = "tobedeleted"
    a, b = students[3], students[4]
    a["email"], b["email"] = b["email"], a["email"]  # their matches swap
    promoted = users[active[5]["user"]["sourcedId"]]
    promoted["role"] = "teacher"  # its memberships change role
    gone = classes[7]
    gone["status"] = "tobedeleted"
    school = classes[8]["school"]
    new = {**classes[8], "sourcedId": "cls-new-delta", "title": "New in the delta"}
    district.classes.append(new)
    joined = [
        {
            **e,
            "sourcedId": f"enr-new-delta-{n}",
            "class": district.ref("class", new["sourcedId"]),
            "school": school,
        }  # fmt: skip
        for n, e in enumerate(active[10:16])
    ]
    district.enrollments.extend(joined)
    return [moved, twin, dropped, a, b, promoted, gone, new, *joined]


@pytest.mark.parametrize("options", [{}, INCREMENTAL], ids=["defaults", "sessions-parents"])
def test_incremental_memberships_equal_a_full_sync(make_integration, sync, district, monkeypatch, options):  # fmt: skip
    calls = []
    real = memberships._store_changed_members
    monkeypatch.setattr(
        memberships, "_store_changed_members", lambda *a: calls.append(1) or real(*a)
    )
    integration = make_integration(**options)
    assert sync(integration).status is SyncStatus.SUCCEEDED
    _stamped(district, lambda: _roster_edits(district))
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    _stamped(district, lambda: _more_edits(district))
    again = sync(integration)
    assert again.status is SyncStatus.SUCCEEDED and len(calls) == 2
    assert "3 schools: " in _log(again) and "changed enrollments" in _log(again)
    fresh = make_integration(**options)
    assert counts(sync(fresh)) == counts(again) == _expected(district, options)
    assert _comparable(integration.id) == _comparable(fresh.id)


def _more_edits(district):
    """Classrooms that come (back) while their enrollments stay as they were."""
    twin = next(e for e in district.enrollments if e["sourcedId"].startswith("enr-twin-of-"))
    twin["status"] = "tobedeleted"  # the membership stays: the original is still there
    revived = next(c for c in district.classes if c["status"] == "tobedeleted" and c["title"] != "New in the delta")  # fmt: skip
    revived["status"] = "active"
    today = district.today.isoformat()
    past = {s["sourcedId"] for s in district.academic_sessions if s["endDate"] <= today}
    enrolled = {e["class"]["sourcedId"] for e in district.enrollments if e["status"] == "active"}
    old = next(c for c in district.classes if c["status"] == "active" and c["sourcedId"] in enrolled and all(t["sourcedId"] in past for t in c["terms"]))  # fmt: skip
    old["terms"] = list(next(c["terms"] for c in district.classes if not any(t["sourcedId"] in past for t in c["terms"])))  # fmt: skip
    return [twin, revived, old]


def test_failed_shared_read_falls_back_to_school_reads(make_integration, sync, sis, district, monkeypatch):  # fmt: skip
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    real = OneRosterClient.enrollments

    def enrollments(self, school_id=None, since=None):
        if school_id is None:
            raise OneRosterError(ErrorCode.SERVER_ERROR, "injected", status=500)
        return real(self, school_id, since)

    monkeypatch.setattr(OneRosterClient, "enrollments", enrollments)
    broken = district.schools[1]
    before = snapshot(integration.id)
    district.apply_changes(0.05)
    sis.faults.broken_school = broken["sourcedId"]
    run = sync(integration)
    assert run.status is SyncStatus.PARTIAL and run.error_code == "OR160"
    assert "school by school" in _log(run)
    after = snapshot(integration.id)
    for table in ("sis_class", "sis_enrollment"):
        kept = [row for row in before[table] if row[1] == broken["sourcedId"]]
        assert kept and kept == [row for row in after[table] if row[1] == broken["sourcedId"]]
    assert after["sis_enrollment"] != before["sis_enrollment"]

    # Next delta: the two schools read last time share a point and are read at once;
    # the one that failed is read on its own from its older point.
    sis.faults.broken_school = None
    monkeypatch.undo()
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    log = _log(run)
    assert "2 schools: " in log and f"({broken['sourcedId']}): " in log
    db.session.refresh(integration)
    points = db.session.scalars(select(SisOrg.slice_read_at).where(SisOrg.integration_id == integration.id))  # fmt: skip
    assert set(points) == {integration.last_sync_at}
    fresh = make_integration()
    sync(fresh)
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_delta_leaves_out_excluded_schools(make_integration, sync, district):
    excluded = [district.schools[0]["sourcedId"]]
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    set_excluded_schools(integration, excluded)
    assert sync(integration).status is SyncStatus.SUCCEEDED
    district.apply_changes(0.05)
    run = sync(integration)
    assert run.status is SyncStatus.SUCCEEDED and "changes since" in _log(run)
    assert counts(run) == district.expected_counts(excluded_schools=excluded)
    fresh = make_integration()
    sync(fresh)
    set_excluded_schools(fresh, excluded)
    sync(fresh, full=True)
    assert _comparable(integration.id) == _comparable(fresh.id)


def _summary_lines(run) -> list[str]:
    """The log's summary of the matching (what a full and a delta sync must agree on)."""
    wanted = ("users skipped as duplicate emails", "not matched (other roles)", "left out:")
    return sorted(line for line in _log(run).split("\n") if any(w in line for w in wanted))


def test_delta_matches_again_only_the_users_in_question(make_integration, sync, district):
    """A delta re-matches the users it staged and those sharing an email with them;
    claims move between users it did not stage, and the counts kept with the basis
    (duplicates, left out, other roles) move with them, ending as a full sync would."""
    users = [u for u in district.users if u["status"] == "active"]
    known = district.directory_emails()
    students = sorted(
        (
            u
            for u in users
            if u["role"] == "student" and (u.get("email") or "").strip().lower() in known
        ),
        key=lambda u: u["sourcedId"],
    )
    first, second, third = students[10], students[11], students[12]
    with district.lock:  # before the first sync: `second` is a duplicate of `first`
        second["email"] = first["email"].upper()
        third["enabledUser"] = "false"
        district.touch()
    integration = make_integration()
    full = sync(integration)
    assert f"SIS user {second['sourcedId']} skipped, {first['sourcedId']} matched first" in _log(full)  # fmt: skip
    held = set(db.session.scalars(select(SisUserLink.sis_sourced_id).where(SisUserLink.integration_id == integration.id)))  # fmt: skip
    assert first["sourcedId"] in held and second["sourcedId"] not in held

    aide = next(u for u in users if u["role"] == "aide")

    def edit():
        first["email"] = "moved-away@nowhere.example"  # `second`, not staged, now claims
        third["enabledUser"] = "true"
        aide["role"] = "teacher"
        return [first, third, aide]

    _stamped(district, edit)
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    assert "matching again the " in _log(delta)
    held = set(db.session.scalars(select(SisUserLink.sis_sourced_id).where(SisUserLink.integration_id == integration.id)))  # fmt: skip
    assert second["sourcedId"] in held and first["sourcedId"] not in held
    assert third["sourcedId"] in held

    fresh = make_integration()
    again = sync(fresh)
    assert counts(delta) == counts(again)
    assert _summary_lines(delta) == _summary_lines(again)
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_a_changed_directory_matches_everybody(make_integration, sync, district):
    integration = make_integration()
    sync(integration)
    district.apply_changes(0.02)
    assert "matching again the " in _log(sync(integration))
    unmatched = db.session.scalar(
        select(UnmatchedUser.email).where(UnmatchedUser.integration_id == integration.id,
                                          UnmatchedUser.email.is_not(None))
    )  # fmt: skip
    db.session.add(DirectoryUser(device_id=integration.device_id, email=unmatched, kind=UserKind.STUDENT))  # fmt: skip
    db.session.commit()
    district.apply_changes(0.02)
    run = sync(integration)
    assert "matching again the " not in _log(run)
    assert db.session.scalar(select(func.count()).where(UnmatchedUser.email == unmatched)) == 0
    fresh = make_integration()
    assert counts(sync(fresh)) == counts(run)
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_an_email_rewritten_by_bulk_sql_matches_everybody(make_integration, sync, district):
    """The basis fingerprints every directory user's id and email, so a script's UPDATE
    that leaves updated_at alone is seen; a change of names (which no match reads) keeps
    the delta's incremental match."""
    integration = make_integration()
    sync(integration)
    linked = db.session.scalar(
        select(DirectoryUser).join(SisUserLink, SisUserLink.directory_user_id == DirectoryUser.id)
        .where(SisUserLink.integration_id == integration.id).order_by(DirectoryUser.id).limit(1)
    )  # fmt: skip
    stamp = linked.updated_at
    db.session.execute(update(DirectoryUser).where(DirectoryUser.id == linked.id).values(given_name="Renamed", updated_at=DirectoryUser.updated_at))  # fmt: skip
    db.session.commit()
    district.apply_changes(0.02)
    assert "matching again the " in _log(sync(integration))

    rewritten = "rewritten." + linked.email
    db.session.execute(update(DirectoryUser).where(DirectoryUser.id == linked.id).values(email=rewritten, updated_at=DirectoryUser.updated_at))  # fmt: skip
    db.session.commit()
    db.session.refresh(linked)
    assert linked.updated_at == stamp
    district.apply_changes(0.02)
    run = sync(integration)
    assert "matching again the " not in _log(run)
    fresh = make_integration()
    assert counts(sync(fresh)) == counts(run)
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_delta_with_an_enrollment_missing_its_user(make_integration, sync, district, monkeypatch):  # fmt: skip
    """A SIS can serve an enrollment without its user: a delta stages it, the members
    step looks its sourcedId up after the merge and leaves it out, as a full sync does."""
    from sisapp.sync import read

    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    enrollment, other = [e for e in district.enrollments if e["status"] == "active"][:2]
    real = read.enrollment_row

    def without_user(run_id, school_id, record):
        row = real(run_id, school_id, record)
        return row[:4] + (None,) + row[5:] if record.sourced_id == enrollment["sourcedId"] else row  # fmt: skip

    monkeypatch.setattr(read, "enrollment_row", without_user)
    _stamped(district, lambda: [enrollment, other])
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    stored = select(SisEnrollment.user_id).where(SisEnrollment.integration_id == integration.id, SisEnrollment.sourced_id == enrollment["sourcedId"])  # fmt: skip
    assert db.session.execute(stored).one() == (None,)
    fresh = make_integration()
    assert counts(sync(fresh)) == counts(delta)
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_a_school_renamed_renames_its_classrooms_in_a_delta(make_integration, sync, district):
    """A delta compares only the classrooms of the classes it read, unless a school's
    name changed: every classroom of that school carries the new name."""
    integration = make_integration()
    assert sync(integration).status is SyncStatus.SUCCEEDED
    school = next(o for o in district.orgs if o["type"] == "school")
    _stamped(district, lambda: [school] if school.update(name="Renamed Academy") is None else [])
    delta = sync(integration)
    assert delta.status is SyncStatus.SUCCEEDED, delta.error_message
    names = set(db.session.scalars(select(Classroom.school_name).where(
        Classroom.integration_id == integration.id,
        Classroom.school_sourced_id == school["sourcedId"])))  # fmt: skip
    assert names == {"Renamed Academy"}
    fresh = make_integration()
    assert sync(fresh).status is SyncStatus.SUCCEEDED
    assert _comparable(integration.id) == _comparable(fresh.id)


def test_a_deltas_apply_on_postgresql_prices_random_reads_low(make_integration, sync, district, monkeypatch):  # fmt: skip
    """A delta looks up a few thousand keys in big tables: its apply transaction plans
    for index lookups (random_page_cost 1.1); a full sync's keeps the server's setting."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite has no planner costs")
    from sisapp.sync import derive

    seen, store = [], derive.store_members

    def store_members(conn, *args, **kwargs):  # runs inside the apply transaction
        seen.append(float(conn.exec_driver_sql("SHOW random_page_cost").scalar()))
        return store(conn, *args, **kwargs)

    monkeypatch.setattr(derive, "store_members", store_members)
    integration = make_integration()
    default = float(db.session.execute(text("SHOW random_page_cost")).scalar())
    assert sync(integration).status is SyncStatus.SUCCEEDED
    district.apply_changes(0.02)
    assert sync(integration).status is SyncStatus.SUCCEEDED
    after = float(db.session.execute(text("SHOW random_page_cost")).scalar())
    assert seen == [default, 1.1] and default != 1.1
    assert after == default  # SET LOCAL: gone with the apply's transaction
