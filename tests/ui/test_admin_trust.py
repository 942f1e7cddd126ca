"""Issue 18: the admin pages a school IT admin would trust at first sight (items 1-14)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import (
    Classroom,
    DirectoryUser,
    OneRosterIntegration,
    ParentContact,
    SyncLogLine,
    SyncStatus,
    UserKind,
)
from sisapp.models.roster import UnmatchedUser
from sisapp.models.types import utcnow
from sisapp.services import run_views
from tests.factories import TEST_SECRET, make_integration, make_run
from tests.helpers.forms import form_data

RAW = (
    "HTTPConnectionPool(host='sis.invalid', port=80): Max retries exceeded with url: "
    "/ims/oneroster (Caused by NameResolutionError(...))"
)


def _add(auth_client, hx, csrf_token, **fields):
    return auth_client.post(
        "/sis-integration/new/oneroster", data=form_data(csrf_token, **fields), headers=hx
    )


def _count() -> int:
    db.session.expire_all()
    return db.session.query(OneRosterIntegration).count()


# 1 -------------------------------------------------------------------------------------


def test_failed_run_shows_meaning_and_action_and_hides_the_raw_text(auth_client, integration):
    run = make_run(integration, status=SyncStatus.FAILED, error_code="OR110", error_message=RAW)
    html = auth_client.get(f"/sis-integration/{integration.id}/runs/{run.id}/status").get_data(
        as_text=True
    )
    meaning = html.split('data-testid="error-code">OR110</span></strong>: ')[1].split("</p>")[0]
    assert meaning and "HTTPConnectionPool" not in meaning
    assert 'data-testid="error-action"><strong>What to do:</strong>' in html
    details = html.split('<details class="error-details">')[1].split("</details>")[0]
    assert "<summary>Details</summary>" in details and "HTTPConnectionPool" in details
    assert html.count("HTTPConnectionPool") == 1


def test_error_codes_page_has_admin_part_and_separate_operator_notes(auth_client):
    html = auth_client.get("/sis-integration/error-codes").get_data(as_text=True)
    admin, operator = html.split('data-testid="operator-notes"')
    assert "What to do" in admin and "When to contact Support" in admin
    assert "Notes for the server operator" in operator


# 2 -------------------------------------------------------------------------------------


def test_no_settings_banner_on_a_never_synced_integration(auth_client, integration):
    integration.needs_sync = True
    db.session.commit()
    assert 'data-testid="needs-sync"' not in auth_client.get("/sis-integration/").get_data(
        as_text=True
    )


def test_settings_banner_after_a_change_and_gone_with_the_successful_sync(
    auth_client, integration, csrf_token, hx
):
    run = make_run(integration, queued_at=utcnow() - timedelta(minutes=5))
    data = form_data(csrf_token, name="Renamed", client_secret="")
    auth_client.post(f"/sis-integration/{integration.id}/edit", data=data, headers=hx)
    assert 'data-testid="needs-sync"' in auth_client.get("/sis-integration/").get_data(as_text=True)
    # The banner is inside the polled fragment: the fragment of a run that ended after
    # the change (the engine cleared needs_sync) drops it without a page reload.
    fresh = make_run(integration, status=SyncStatus.RUNNING, finished_at=None)
    status_url = f"/sis-integration/{integration.id}/runs/{fresh.id}/status"
    fragment = auth_client.get(status_url).get_data(as_text=True)
    assert 'data-testid="needs-sync"' not in fragment  # not while it runs
    fresh.status, fresh.finished_at = SyncStatus.SUCCEEDED, utcnow()
    integration.needs_sync = False
    db.session.commit()
    fragment = auth_client.get(status_url).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="run-status-')
    assert 'data-testid="needs-sync"' not in fragment
    # A failed run keeps it (the settings still have not been applied).
    integration.needs_sync = True
    db.session.commit()
    failed = make_run(integration, status=SyncStatus.FAILED, queued_at=run.queued_at)
    fragment = auth_client.get(
        f"/sis-integration/{integration.id}/runs/{failed.id}/status"
    ).get_data(as_text=True)
    assert 'data-testid="needs-sync"' in fragment


# 4 -------------------------------------------------------------------------------------


def test_progress_has_time_left_from_the_last_sync_and_a_live_region(auth_client, integration):
    start = utcnow() - timedelta(hours=2)
    make_run(
        integration,
        started_at=start,
        finished_at=start + timedelta(minutes=20),
        records_read=10_000,
    )
    running = make_run(
        integration,
        status=SyncStatus.RUNNING,
        phase="users",
        records_read=4_000,
        read_counts={"read": {"schools": 3, "academicSessions": 2, "users": 3_995},
                     "expected": {"users": 10_000}},  # fmt: skip
        started_at=utcnow() - timedelta(minutes=8),
        finished_at=None,
    )
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert re.search(
        r'<div class="run-status-live" aria-live="polite" data-testid="run-status-live">\s*'
        rf'<section id="run-status-{integration.id}"',
        page,
    )
    assert 'data-testid="time-left">about 12 min left, based on the last sync<' in page
    assert "(now reading users)" in page and 'data-testid="records-read">4,000<' in page
    collections = re.search(r'data-testid="collections-read">(.*?)</ul>', page, re.S).group(1)
    assert [re.sub(r"<[^>]+>", "", li).strip() for li in collections.split("</li>")[:-1]] == [
        "Schools: 3", "Academic sessions: 2", "Users: 3,995 of 10,000",
    ]  # fmt: skip
    poll = re.search(rf'hx-get="([^"]*runs/{running.id}/status[^"]*)"', page).group(1)
    assert "basis=1200:10000" in poll
    fragment = auth_client.get(poll.replace("&amp;", "&")).get_data(as_text=True)
    assert "about 12 min left, based on the last sync" in fragment


def test_no_estimate_without_a_previous_sync(auth_client, integration):
    make_run(integration, status=SyncStatus.RUNNING, started_at=utcnow(), finished_at=None)
    assert 'data-testid="time-left"' not in auth_client.get("/sis-integration/").get_data(
        as_text=True
    )


# 5, 6 ----------------------------------------------------------------------------------


def test_log_lines_are_in_the_region_zone_with_its_label(auth_client, integration):
    run = make_run(integration)
    at = datetime(2030, 1, 15, 20, 3, 5, tzinfo=UTC)  # 14:03:05 in Chicago (CST)
    db.session.add(SyncLogLine(run_id=run.id, at=at, level="info", message="users read"))
    db.session.commit()
    html = auth_client.get(f"/sis-integration/{integration.id}/log").get_data(as_text=True)
    assert '<time datetime="2030-01-15T20:03:05+00:00">14:03:05 CST</time>' in html


def test_schedule_is_explained_with_the_zone_named(auth_client, integration):
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    help_text = html.split('data-testid="schedule-help">')[1].split("</p>")[0]
    assert "Tuesday and Friday at 6 PM US Central Time" in help_text
    assert "24 hours" in help_text and "four hours" in help_text
    assert "outside school hours" in help_text
    footer = html.split('data-testid="schedule-footer">')[1].split("</p>")[0]
    assert "6 PM US Central Time" in footer


# 7, 8, 9, 12 ---------------------------------------------------------------------------


def test_powerschool_with_parents_is_one_error(auth_client, csrf_token, hx):
    html = _add(auth_client, hx, csrf_token, sis_vendor="powerschool", sync_parents="y").get_data(
        as_text=True
    )
    assert html.count('class="error" role="alert"') == 1
    assert "Syncing Parent Data from PowerSchool is unavailable" in html
    assert "Choose the relationship type" not in html
    assert _count() == 0


def test_powerschool_hint_is_in_the_dialog_for_the_script(auth_client):
    html = auth_client.get("/sis-integration/new/oneroster").get_data(as_text=True)
    hint = re.search(r'<p class="hint[^>]*id="sync_parents-hint"([^>]*)>([^<]*)</p>', html)
    assert " hidden" in hint.group(1) and "PowerSchool" in hint.group(2)
    assert 'aria-describedby="sync_parents-help sync_parents-hint"' in html


def test_the_typed_secret_survives_a_validation_error_without_being_rendered(
    auth_client, csrf_token, hx, app
):
    html = _add(auth_client, hx, csrf_token, name="").get_data(as_text=True)
    assert "top-secret-value-123" not in html
    kept = re.search(r'id="kept_secret" name="kept_secret" type="hidden" value="([^"]+)"', html)
    assert kept and "Kept" in html
    response = _add(auth_client, hx, csrf_token, client_secret="", kept_secret=kept.group(1))
    assert response.headers.get("HX-Redirect") == "/sis-integration/"
    saved = db.session.query(OneRosterIntegration).one()
    box = SecretBox(app.config["ENCRYPTION_KEY"])
    assert box.decrypt(saved.client_secret_encrypted) == "top-secret-value-123"


def test_a_stored_secrets_token_is_not_accepted_as_a_kept_secret(
    auth_client, csrf_token, hx, integration
):
    html = _add(
        auth_client,
        hx,
        csrf_token,
        name="Other",
        endpoint_url="https://other.example.org/ims/oneroster/v1p1",
        client_secret="",
        kept_secret=integration.client_secret_encrypted,
    ).get_data(as_text=True)
    assert "Enter the client secret" in html and TEST_SECRET not in html
    assert _count() == 1


def test_enter_submits_the_dialog_not_test_connection(auth_client):
    html = auth_client.get("/sis-integration/new/oneroster").get_data(as_text=True)
    form = html.split('<form id="integration-form"')[1].split("</form>")[0]
    assert re.search(r'<button type="button" id="test-connection"', form)
    submits = re.findall(r'<button type="submit"[^>]*>', form)
    assert len(submits) == 1 and 'id="integration-submit"' in submits[0]


def test_field_errors_are_linked_and_close_has_a_matching_name(auth_client, csrf_token, hx):
    html = _add(auth_client, hx, csrf_token, name="").get_data(as_text=True)
    name_input = re.search(r'<input[^>]*id="name"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in name_input
    assert 'aria-describedby="name-help name-error"' in name_input
    assert '<div id="name-error"><p class="error" role="alert">Give the integration a name.' in html
    close = re.search(r'<a class="close"[^>]*>.*?</a>', html, re.S).group(0)
    assert "aria-label" not in close
    assert '<span aria-hidden="true">×</span><span class="visually-hidden">Close</span>' in close


# 10 ------------------------------------------------------------------------------------


def _user(device, given, family, kind=UserKind.STUDENT):
    user = DirectoryUser(
        device_id=device.id,
        email=f"{given}.{family}@school.example".lower(),
        given_name=given,
        family_name=family,
        kind=kind,
        source="LDAP",
    )
    db.session.add(user)
    db.session.flush()
    return user


def _parent(device, integration, student, parent_id, given, family, relationship="guardian"):
    db.session.add(
        ParentContact(
            device_id=device.id,
            integration_id=integration.id,
            student_user_id=student.id,
            sis_parent_id=parent_id,
            given_name=given,
            family_name=family,
            email=f"{given}@home.example".lower(),
            relationship=relationship,
        )
    )


@pytest.fixture
def parents(device, integration):
    ann, ben = _user(device, "Ann", "Lee"), _user(device, "Ben", "Lee")
    _parent(device, integration, ann, "p1", "Mia", "Lee")
    _parent(device, integration, ben, "p1", "Mia", "Lee")
    _parent(device, integration, ben, "p2", "Zed", "Adams", "parent")
    db.session.commit()


def test_parents_tab_lists_parents_with_students_relationship_and_source(
    auth_client, integration, parents
):
    html = auth_client.get("/directory/parents").get_data(as_text=True)
    assert 'data-testid="directory-parents"' in html and "Parents (2)" in html
    rows = html.split('data-testid="parent-row"')[1:]
    assert len(rows) == 2
    assert "Zed Adams" in rows[0] and "Parent" in rows[0] and "Ben Lee" in rows[0]
    assert "Mia Lee" in rows[1] and "Guardian" in rows[1]
    assert ">Ann Lee, Ben Lee<" in rows[1] and integration.name in rows[1]
    found = auth_client.get("/directory/parents?q=mia").get_data(as_text=True)
    assert found.count('data-testid="parent-row"') == 1 and "1 of 2 parents" in found


def test_parents_tab_pages_like_the_users_list(auth_client, app, parents):
    app.config["DIRECTORY_PAGE_SIZE"] = 1
    first = auth_client.get("/directory/parents").get_data(as_text=True)
    second = auth_client.get("/directory/parents?page=2").get_data(as_text=True)
    assert "Zed Adams" in first and "Mia Lee" not in first and 'rel="next"' in first
    assert "Mia Lee" in second and "Page 2 of 2" in second


def test_another_devices_parents_are_not_listed(auth_client, other_device, parents):
    other = make_integration(other_device, name="Theirs")
    kid = _user(other_device, "Kim", "Ng")
    _parent(other_device, other, kid, "p9", "Olu", "Ng")
    db.session.commit()
    html = auth_client.get("/directory/parents").get_data(as_text=True)
    assert "Olu" not in html and "Parents (2)" in html


def test_unmatched_csv_is_sorted_as_the_page(auth_client, integration, monkeypatch):
    monkeypatch.setattr(run_views, "_BATCH", 2)  # several keyset batches
    run = make_run(integration)
    for n, name in enumerate(["Eve", "Bob", "Dan", "Ann", "Cat", "Bob"]):
        db.session.add(
            UnmatchedUser(
                integration_id=integration.id,
                run_id=run.id,
                sis_sourced_id=f"u{n}",
                name=name,
                role="student",
            )
        )
    db.session.commit()
    body = auth_client.get(f"/sis-integration/{integration.id}/unmatched.csv").get_data(
        as_text=True
    )
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert [r[1] for r in rows] == ["Ann", "Bob", "Bob", "Cat", "Dan", "Eve"]
    assert [r[0] for r in rows if r[1] == "Bob"] == ["u1", "u5"]


# 11 ------------------------------------------------------------------------------------


def test_classroom_source_names_the_integration(auth_client, device, integration):
    db.session.add(
        Classroom(
            device_id=device.id, integration_id=integration.id, sis_sourced_id="c1", name="Math"
        )
    )
    db.session.commit()
    html = auth_client.get("/directory/classrooms").get_data(as_text=True)
    assert f'data-testid="classroom-source">{integration.name}<' in html


def test_add_warns_when_another_integration_reads_the_same_endpoint(
    auth_client, csrf_token, hx, integration
):
    same = integration.endpoint_url + "/"
    html = _add(auth_client, hx, csrf_token, name="Twin", endpoint_url=same).get_data(as_text=True)
    assert 'data-testid="same-endpoint"' in html and f"“{integration.name}”" in html
    assert "import every class twice" in html and _count() == 1
    response = _add(
        auth_client, hx, csrf_token, name="Twin", endpoint_url=same, same_endpoint_ok="y"
    )
    assert response.headers.get("HX-Redirect") == "/sis-integration/" and _count() == 2


# 13, 14 --------------------------------------------------------------------------------


def test_favicon_and_exact_confirmation_wording(auth_client, integration):
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    response = auth_client.get(icon)
    assert response.status_code == 200
    response.close()
    reset = auth_client.get(f"/sis-integration/{integration.id}/reset").get_data(as_text=True)
    delete = auth_client.get(f"/sis-integration/{integration.id}/delete").get_data(as_text=True)
    assert ">Yes, Reset</button>" in reset and ">Yes, Delete</button>" in delete
    assert '<label for="understand">I Understand</label>' in reset


def test_dev_repeats_the_demo_sign_in_on_every_start(app):
    from sisapp.cli.dev import DEMO_EMAIL, DEMO_PASSWORD, ensure_demo_account

    line = f"Demo sign-in: {DEMO_EMAIL} / {DEMO_PASSWORD}"
    assert ensure_demo_account() == line
    assert ensure_demo_account() == line


def test_demo_sis_prints_venv_commands(capsys, tmp_path):
    from sisapp.cli.demo_sis import _print_instructions
    from sisapp.demo_sis import DistrictSpec, generate_district

    class Server:
        root_url = token_url = "http://127.0.0.1:1"
        versions = ()
        client_id = client_secret = "x"

    district = generate_district(DistrictSpec(schools=1, students=5, seed=1))
    opts = {"directory_out": tmp_path / "d.csv", "expected_out": tmp_path / "e.json"}
    _print_instructions(Server(), district, opts)
    out = capsys.readouterr().out
    assert ".venv/bin/flask --app app directory import" in out
    assert re.search(r"(?m)^\s+flask ", out) is None
