"""The pages of issue 16: change counts in Sync Details, the change set and its CSVs in
View Log, Preview, a Blocked sync and Allow these removals, the removals the Edit and
Exclude Schools dialogs announce before Submit, and what Reset and Cancel leave shown.

The flows run real syncs against the demo SIS (in the foreground: the test runs the run
the page queued); the counts they check are counted from the tables independently.
"""

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sisapp.demo_sis import generate_district
from sisapp.extensions import db
from sisapp.models import (
    Classroom,
    ClassroomMember,
    SyncChange,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    empty_changes,
)
from sisapp.models.types import utcnow
from sisapp.services.change_sets import next_full_read
from sisapp.sync import SyncEnvironment, run_sync
from tests.factories import make_integration, make_run
from tests.helpers.demo_sis import add_integration, sync_in_foreground
from tests.helpers.sync_district import CLIENT_ID, CLIENT_SECRET, SPEC, TODAY

POLL = 'hx-trigger="load delay:2s"'
SETTINGS = {"allow_private": True, "today": TODAY, "page_size": 100}


# -- the demo SIS, as the sync tests have it (tests/sync/conftest.py) -------------------------


@pytest.fixture
def district():
    return generate_district(SPEC)


@pytest.fixture
def sis_credentials():
    return CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def synced(directory, sis, box):
    """An integration on the demo SIS after one full sync."""
    integration = add_integration(directory, sis, box, CLIENT_ID, CLIENT_SECRET)
    run = sync_in_foreground(integration, True, {"box": box, **SETTINGS})
    assert run.status is SyncStatus.SUCCEEDED, run.error_message
    return integration


@pytest.fixture
def run_queued(box):
    """Run what the page queued, here and now, as the worker would."""

    def run(run_id: int) -> SyncRun:
        return run_sync(run_id, SyncEnvironment(box=box, **SETTINGS))

    return run


def _drop_school_enrollments(district) -> None:
    """A bad pull: the first school's enrollments vanish (past the safety threshold)."""
    gone = district.schools[0]["sourcedId"]
    with district.lock:
        district.enrollments[:] = [
            e for e in district.enrollments if e["school"]["sourcedId"] != gone
        ]
        district.touch()


def _newest(trigger=None) -> SyncRun:
    query = select(SyncRun).order_by(SyncRun.id.desc()).limit(1)
    if trigger is not None:
        query = query.where(SyncRun.trigger == trigger)
    db.session.expire_all()
    return db.session.scalar(query)


def _row(html: str, integration_id: int) -> str:
    start = html.index(f'id="integration-{integration_id}"')
    ends = [html.find(m, start + 1) for m in ('class="integration card"', "schedule-footer")]
    return html[start : min(e for e in ends if e > 0)]


def _text(html: str) -> str:
    """The words a reader sees (tags dropped, whitespace collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _changes(**kinds) -> dict:
    changes = empty_changes()
    for kind, counts in kinds.items():
        changes[kind].update(counts)
    return changes


def _add_rows(run, kind, rows):
    db.session.add_all(
        SyncChange(run_id=run.id, kind=kind, change=change, subject=subject, reason=reason)
        for change, subject, reason in rows
    )
    db.session.commit()


# -- 1. Sync Details: change counts beside the seed counts ----------------------------------


def test_sync_details_show_the_change_counts(auth_client, integration):
    run = make_run(
        integration,
        changes=_changes(
            classrooms={"added": 12, "removed": 3, "renamed": 2},
            matched_users={"added": 1500, "removed": 0},
        ),
    )
    row = _text(_row(auth_client.get("/sis-integration/").get_data(as_text=True), integration.id))
    assert "+12 / \u22123 classrooms, 2 renamed" in row
    assert "+1,500 / \u22120 matched users" in row
    # The seed counts keep their DOM (tests/browser/test_admin_journey.py reads them).
    fragment = auth_client.get(
        f"/sis-integration/{integration.id}/runs/{run.id}/status", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'data-testid="count-imported-classes">12<' in fragment
    assert 'data-testid="change-classrooms"' in fragment and "Changed by this sync" in fragment


def test_a_run_without_a_change_set_shows_no_change_counts(auth_client, integration):
    make_run(integration, changes=None)
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'data-testid="sync-details"' in html and 'data-testid="change-counts"' not in html


# -- 2. View Log: the change set per run, a CSV per kind, device-scoped ---------------------


def test_view_log_shows_the_change_set_and_each_kind_downloads(auth_client, integration):
    run = make_run(
        integration,
        changes=_changes(
            classrooms={"added": 1, "removed": 2}, memberships={"added": 0, "removed": 40}
        ),
    )
    _add_rows(
        run,
        "classrooms",
        [
            ("added", "Math 7 (cls-1)", None),
            ("removed", "=HYPERLINK(1) (cls-2)", "school excluded"),
            ("removed", "Art <b>9</b> (cls-3)", "gone from the SIS"),
        ],
    )
    _add_rows(run, "memberships", [("removed", "Art 9: kid@x (u1)", "gone from the SIS")])
    html = auth_client.get(
        f"/sis-integration/{integration.id}/log", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    words = _text(html)
    assert "What this run changed" in words
    assert "Classrooms: +1 / \u22122 classrooms" in words
    assert "Removed Art &lt;b&gt;9&lt;/b&gt; (cls-3) (gone from the SIS)" in words
    assert "<b>9</b>" not in html
    assert "The first 1 of 40 shown." in words  # memberships: 40 counted, 1 row kept
    csv_url = f"/sis-integration/{integration.id}/runs/{run.id}/changes.csv?kind=classrooms"
    assert csv_url.replace("?", "?").split("/sis-integration")[1] in html.replace("&amp;", "&")
    assert 'data-testid="changes-csv-parents"' not in html  # nothing to download
    response = auth_client.get(csv_url)
    assert response.mimetype == "text/csv"
    assert f"sync-run-{run.id}-classrooms.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["subject", "change", "reason"],
        ["Math 7 (cls-1)", "added", ""],
        ["'=HYPERLINK(1) (cls-2)", "removed", "school excluded"],
        ["Art <b>9</b> (cls-3)", "removed", "gone from the SIS"],
    ]
    bad = f"/sis-integration/{integration.id}/runs/{run.id}/changes.csv?kind=secrets"
    assert auth_client.get(bad).status_code == 404


def test_another_devices_change_set_answers_404(auth_client, integration, other_device):
    theirs_integration = make_integration(other_device)
    theirs = make_run(theirs_integration, changes=_changes(classrooms={"added": 1}))
    _add_rows(theirs, "classrooms", [("added", "Their class (t-1)", None)])
    for iid in (integration.id, theirs_integration.id):
        url = f"/sis-integration/{iid}/runs/{theirs.id}/changes.csv?kind=classrooms"
        response = auth_client.get(url)
        assert response.status_code == 404 and "Their class" not in response.get_data(as_text=True)
    log = f"/sis-integration/{integration.id}/log?run={theirs.id}"
    assert auth_client.get(log).status_code == 404


def test_other_devices_integration_answers_404_on_every_new_url(
    auth_client, other_device, csrf_token
):
    theirs = make_integration(other_device)
    headers = {"X-CSRFToken": csrf_token}
    assert (
        auth_client.post(f"/sis-integration/{theirs.id}/preview", headers=headers).status_code
        == 404
    )
    assert auth_client.get(f"/sis-integration/{theirs.id}/allow-removals").status_code == 404
    answer = auth_client.post(
        f"/sis-integration/{theirs.id}/allow-removals",
        data={"understand": "y"},
        headers=headers,
    )
    assert answer.status_code == 404
    announced = f"/sis-integration/{theirs.id}/announced-removals?dialog=edit"
    assert auth_client.post(announced, headers=headers).status_code == 404
    db.session.refresh(theirs)
    assert not theirs.allow_large_removals
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0


# -- 3. Preview -------------------------------------------------------------------------------


def test_preview_queues_a_preview_and_shows_what_a_sync_would_do(
    auth_client, synced, hx, district, run_queued
):
    district.apply_changes(0.05)
    last_sync = synced.last_sync_at
    html = auth_client.post(f"/sis-integration/{synced.id}/preview", headers=hx).get_data(
        as_text=True
    )
    preview = _newest()
    assert preview.trigger is SyncTrigger.PREVIEW and preview.status is SyncStatus.QUEUED
    assert html.lstrip().startswith(f'<section id="preview-status-{synced.id}"')
    assert POLL in html and f"/runs/{preview.id}/status" in html
    again = auth_client.post(f"/sis-integration/{synced.id}/preview", headers=hx).get_data(
        as_text=True
    )
    assert "A preview is already in progress" in again

    run_queued(preview.id)
    db.session.refresh(preview)
    assert preview.status is SyncStatus.PREVIEW, preview.error_message
    fragment = auth_client.get(
        f"/sis-integration/{synced.id}/runs/{preview.id}/status", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert POLL not in fragment
    words = _text(fragment)
    assert "Preview — nothing was changed" in words
    assert "A sync now would not be blocked" in words
    total = sum(n for kind in preview.changes.values() for n in kind.values())
    assert total > 0 and "A sync would change" in words
    classrooms = preview.changes["classrooms"]
    assert f"+{classrooms['added']:,} / \u2212{classrooms['removed']:,} classrooms" in words

    # The list keeps the last sync's details and shows the preview beside them.
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    row = _row(page, synced.id)
    assert 'data-testid="run-status"' in row and 'data-status="succeeded"' in row
    assert 'data-testid="preview-status"' in row and "Preview — nothing was changed" in row
    db.session.refresh(synced)
    assert synced.last_sync_at == last_sync


def test_preview_without_javascript_redirects(auth_client, integration, csrf_token):
    response = auth_client.post(
        f"/sis-integration/{integration.id}/preview", data={"csrf_token": csrf_token}
    )
    assert response.status_code == 302
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "Preview of “District SIS” was queued" in page
    assert f'id="preview-status-{integration.id}"' in page and POLL in page


def test_preview_without_csrf_is_refused(auth_client, integration):
    response = auth_client.post(
        f"/sis-integration/{integration.id}/preview", headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0


# -- 4. Blocked, and Allow these removals -------------------------------------------------------


def test_blocked_sync_preview_and_allow_these_removals(
    auth_client, synced, hx, csrf_token, district, run_queued
):
    rooms_before = db.session.scalar(select(func.count()).select_from(Classroom))
    members_before = db.session.scalar(select(func.count()).select_from(ClassroomMember))
    _drop_school_enrollments(district)
    # Reset so the next sync reads everything (a delta cannot see hard deletions).
    auth_client.post(
        f"/sis-integration/{synced.id}/reset", data={"csrf_token": csrf_token, "understand": "y"}
    )

    # A preview foretells the block.
    auth_client.post(f"/sis-integration/{synced.id}/preview", headers=hx)
    preview = _newest()
    run_queued(preview.id)
    db.session.refresh(preview)
    assert preview.status is SyncStatus.BLOCKED and preview.trigger is SyncTrigger.PREVIEW
    fragment = _text(
        auth_client.get(
            f"/sis-integration/{synced.id}/runs/{preview.id}/status",
            headers={"HX-Request": "true"},
        ).get_data(as_text=True)
    )
    assert "Preview — nothing was changed" in fragment and "A sync now would be blocked" in fragment

    # The sync is blocked, shown as Blocked with what it refused.
    auth_client.post(f"/sis-integration/{synced.id}/sync", headers=hx)
    run = _newest(SyncTrigger.MANUAL)
    run_queued(run.id)
    db.session.refresh(run)
    assert run.status is SyncStatus.BLOCKED and run.error_code == "SY200"
    assert db.session.scalar(select(func.count()).select_from(ClassroomMember)) == members_before
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    row = _row(page, synced.id)
    words = _text(row)
    assert 'data-status="blocked"' in row and "Partly succeeded" not in words
    assert "Last sync attempt: blocked" in words and "nothing was changed" in words
    refused = run.changes["memberships"]["removed"]
    assert refused > 0
    assert f"/ \u2212{refused:,} classroom memberships" in words
    first = db.session.scalar(
        select(SyncChange)
        .where(SyncChange.run_id == run.id, SyncChange.kind == "memberships")
        .order_by(SyncChange.id)
        .limit(1)
    )
    assert first.reason and first.reason in words
    assert 'data-testid="allow-removals"' in row
    # The last good details stay: the blocked run applied nothing.
    assert 'data-testid="last-good-sync"' in row
    assert f'data-testid="count-imported-classes">{rooms_before}<' in row

    # The dialog shows the refused change set and needs "I Understand".
    dialog = auth_client.get(
        f"/sis-integration/{synced.id}/allow-removals", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'data-testid="dialog-allow-removals"' in dialog and "I Understand" in dialog
    assert "Yes, Allow these removals" in dialog and f"\u2212{refused:,}" in dialog
    assert "allow-nothing-blocked" not in dialog
    page_twin = auth_client.get(f"/sis-integration/{synced.id}/allow-removals").get_data(
        as_text=True
    )
    assert "<html" in page_twin and 'data-testid="dialog-allow-removals"' in page_twin
    refused_post = auth_client.post(
        f"/sis-integration/{synced.id}/allow-removals", data={"csrf_token": csrf_token}
    ).get_data(as_text=True)
    assert "Tick “I Understand” to continue." in refused_post
    db.session.refresh(synced)
    assert not synced.allow_large_removals and _newest().id == run.id

    answer = auth_client.post(
        f"/sis-integration/{synced.id}/allow-removals",
        data={"csrf_token": csrf_token, "understand": "y"},
    )
    assert answer.status_code == 302
    allowed = _newest()
    assert allowed.id != run.id and allowed.status is SyncStatus.QUEUED
    db.session.refresh(synced)
    assert synced.allow_large_removals
    run_queued(allowed.id)
    db.session.refresh(allowed)
    db.session.refresh(synced)
    assert allowed.status is SyncStatus.SUCCEEDED, allowed.error_message
    assert not synced.allow_large_removals  # once
    members_after = db.session.scalar(select(func.count()).select_from(ClassroomMember))
    assert (
        members_before - members_after
        == allowed.changes["memberships"]["removed"] - (allowed.changes["memberships"]["added"])
    )
    row = _row(auth_client.get("/sis-integration/").get_data(as_text=True), synced.id)
    assert 'data-status="succeeded"' in row and 'data-testid="allow-removals"' not in row


def test_allow_without_a_blocked_sync_says_so(auth_client, integration):
    make_run(integration)
    dialog = auth_client.get(
        f"/sis-integration/{integration.id}/allow-removals", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'data-testid="allow-nothing-blocked"' in dialog and "allow-refused" not in dialog


# -- 5. Removals announced before Submit ---------------------------------------------------------


def _stored_rooms(integration_id: int, school: str | None = None) -> tuple[int, int]:
    rooms = select(Classroom.id).where(Classroom.integration_id == integration_id)
    if school is not None:
        rooms = rooms.where(Classroom.school_sourced_id == school)
    count = db.session.scalar(select(func.count()).select_from(rooms.subquery()))
    members = db.session.scalar(select(func.count()).where(ClassroomMember.classroom_id.in_(rooms)))
    return count, members


def test_edit_announces_what_classes_off_removes(auth_client, synced, hx, csrf_token):
    rooms, members = _stored_rooms(synced.id)
    assert rooms > 0 and members > 0
    expected = f"The next sync will remove {rooms:,} classrooms and {members:,} memberships"
    dialog = auth_client.get(f"/sis-integration/{synced.id}/edit", headers=hx).get_data(
        as_text=True
    )
    url = f"/sis-integration/{synced.id}/announced-removals?dialog=edit"
    assert url in dialog.replace("&amp;", "&") and 'id="removal-announcement"' in dialog
    assert expected not in dialog  # nothing is announced before anything changes
    off = auth_client.post(url, headers=hx).get_data(as_text=True)  # unticked: no field
    assert expected in off and "<dialog" not in off
    on = auth_client.post(url, data={"sync_classes": "y"}, headers=hx).get_data(as_text=True)
    assert "will remove" not in on

    # Without JavaScript: a dialog that comes back with an error says it too.
    form = {
        "csrf_token": csrf_token,
        "sis_vendor": "other",
        "name": "",
        "endpoint_url": synced.endpoint_url,
        "token_url": synced.token_url or "",
        "client_id": synced.client_id,
        "relationship_type": "",
    }
    again = auth_client.post(f"/sis-integration/{synced.id}/edit", data=form).get_data(as_text=True)
    assert expected in again and 'aria-invalid="true"' in again
    form["name"] = "Demo SIS"
    saved = auth_client.post(f"/sis-integration/{synced.id}/edit", data=form)
    assert saved.status_code == 302
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "was saved" in page and expected in page
    assert _stored_rooms(synced.id) == (rooms, members)  # announced, not done


def test_exclude_schools_announces_the_schools_removals(auth_client, synced, hx, csrf_token):
    school = synced.schools[0]["sourced_id"]
    rooms, members = _stored_rooms(synced.id, school)
    assert rooms > 0
    url = f"/sis-integration/{synced.id}/announced-removals?dialog=exclude"
    dialog = auth_client.get(f"/sis-integration/{synced.id}/exclude-schools", headers=hx)
    assert url in dialog.get_data(as_text=True).replace("&amp;", "&")
    answer = auth_client.post(url, data={"excluded": [school]}, headers=hx).get_data(as_text=True)
    assert f"The next sync will remove {rooms:,} classrooms and {members:,} memberships" in answer
    assert "will remove" not in auth_client.post(url, headers=hx).get_data(as_text=True)
    saved = auth_client.post(
        f"/sis-integration/{synced.id}/exclude-schools",
        data={"csrf_token": csrf_token, "excluded": [school]},
    )
    assert saved.status_code == 302
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert f"remove {rooms:,} classrooms" in page


def test_announcement_without_csrf_is_refused(auth_client, integration):
    url = f"/sis-integration/{integration.id}/announced-removals?dialog=edit"
    assert auth_client.post(url, headers={"HX-Request": "true"}).status_code == 400


# -- 6. Reset, Cancel and the next full read ------------------------------------------------------


def test_after_reset_the_row_says_the_next_sync_reads_everything(
    auth_client, integration, csrf_token
):
    make_run(integration)
    integration.last_sync_at = utcnow()
    db.session.commit()
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'data-testid="reset-note"' not in page
    auth_client.post(
        f"/sis-integration/{integration.id}/reset",
        data={"csrf_token": csrf_token, "understand": "y"},
    )
    row = _row(auth_client.get("/sis-integration/").get_data(as_text=True), integration.id)
    assert 'data-testid="reset-note"' in row and "the next sync reads everything" in row
    assert 'data-testid="sync-details"' in row  # the data (and its details) are kept
    integration.last_sync_at = utcnow()  # the next sync ran
    db.session.commit()
    row = _row(auth_client.get("/sis-integration/").get_data(as_text=True), integration.id)
    assert 'data-testid="reset-note"' not in row


def test_after_cancel_the_last_good_details_stay(auth_client, integration, hx):
    make_run(
        integration,
        queued_at=utcnow() - timedelta(days=1),
        matched_students=77,
        changes=_changes(classrooms={"added": 4}),
    )
    auth_client.post(f"/sis-integration/{integration.id}/sync", headers=hx)
    run = _newest()
    html = auth_client.post(
        f"/sis-integration/{integration.id}/runs/{run.id}/cancel", headers=hx
    ).get_data(as_text=True)
    words = _text(html)
    assert 'data-status="cancelled"' in html and "Last sync attempt: cancelled" in words
    assert 'data-testid="count-matched-students">77<' in html
    assert 'data-testid="last-good-sync"' in html and "+4 / \u22120 classrooms" in words
    row = _row(auth_client.get("/sis-integration/").get_data(as_text=True), integration.id)
    assert "Last sync attempt: cancelled" in _text(row)
    assert 'data-testid="count-matched-students">77<' in row


def test_the_row_says_when_the_next_full_read_is(app, auth_client, integration):
    expected = next_full_read(integration)
    assert expected is not None
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    cell = html.split('data-testid="next-full-read"')[1].split("</dd>")[0]
    assert f'<time datetime="{expected.isoformat(timespec="seconds")}"' in cell
    app.config["SYNC_SCHEDULED_FULL_READ"] = "never"
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    cell = html.split('data-testid="next-full-read"')[1].split("</dd>")[0]
    assert "Not scheduled" in cell and "<time" not in cell


def test_a_preview_can_be_cancelled_in_its_own_region(auth_client, integration, hx):
    auth_client.post(f"/sis-integration/{integration.id}/sync", headers=hx)
    sync = _newest()
    auth_client.post(f"/sis-integration/{integration.id}/preview", headers=hx)
    preview = _newest()
    assert preview.trigger is SyncTrigger.PREVIEW and preview.id != sync.id  # side by side
    html = auth_client.post(
        f"/sis-integration/{integration.id}/runs/{preview.id}/cancel", headers=hx
    ).get_data(as_text=True)
    assert html.lstrip().startswith(f'<section id="preview-status-{integration.id}"')
    assert 'data-status="cancelled"' in html and "needs-sync" not in html
    assert "The preview ended: cancelled" in _text(html)
    db.session.refresh(sync)
    assert sync.status is SyncStatus.QUEUED  # the sync goes on


def test_a_run_that_changed_nothing_says_so_instead_of_listing_zeros(auth_client, integration):
    make_run(integration, changes=_changes())
    row = _text(_row(auth_client.get("/sis-integration/").get_data(as_text=True), integration.id))
    assert "Nothing changed." in row and "+0 / \u22120" not in row
