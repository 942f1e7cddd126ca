"""The product as a school IT admin meets it, in a real browser.

Each test is one scenario from the end-to-end issue and ends with assertions on what
the admin sees. Screenshots of each step go to test-artifacts/screenshots/.
"""

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration, SyncLogLine, SyncStatus
from sisapp.services.integrations import IntegrationData, create_integration
from tests.helpers.browser import (
    assert_no_axe_violations,
    assert_no_horizontal_overflow,
    sign_in,
)


@pytest.fixture(autouse=True)
def _calm_sis(demo_sis, app):
    """Every scenario ends with no sync running and starts with a healthy SIS."""
    yield
    _wait_for_runs_to_end()
    faults = demo_sis.faults
    faults.latency_ms = 0
    faults.error_rate = faults.rate_limit_rate = 0.0
    faults.broken_school = None
    faults.malformed_at = None


def _wait_for_runs_to_end(timeout: float = 60.0) -> None:
    """The worker must be idle before the tables are emptied for the next scenario."""
    from sqlalchemy import select

    from sisapp.models import SyncRun, SyncStatus
    from sisapp.services.sync_runs import cancel_run

    deadline = time.time() + timeout
    while time.time() < deadline:
        db.session.rollback()
        active = db.session.scalars(
            select(SyncRun).where(SyncRun.status.in_([SyncStatus.QUEUED, SyncStatus.RUNNING]))
        ).all()
        if not active:
            return
        for run in active:
            if not run.cancel_requested:
                cancel_run(run)
        time.sleep(0.3)
    raise AssertionError("a sync was still running after the scenario")


def _integration(app, school, demo_sis, **options) -> OneRosterIntegration:
    data = IntegrationData(
        name=options.pop("name", "Demo District SIS"),
        sis_vendor="other",
        endpoint_url=demo_sis.root_url,
        token_url=demo_sis.token_url,
        client_id=demo_sis.client_id,
        client_secret=demo_sis.client_secret,
        **options,
    )
    return create_integration(school["device"].id, data, SecretBox(app.config["ENCRYPTION_KEY"]))


def _expected(demo_sis, **options) -> dict:
    return demo_sis.district.expected_counts(**options)


def _sync_and_wait(page, integration_id: int, timeout: float = 60_000):
    status = page.locator(f"#run-status-{integration_id}")
    previous = status.get_attribute("data-run-id") or ""
    page.locator(f"#integration-{integration_id}").get_by_test_id("sync").click()
    # Wait for the new run's fragment before judging its status.
    expect(status).not_to_have_attribute("data-run-id", previous or "none")
    expect(status).to_have_attribute(
        "data-status", re.compile("succeeded|partial|failed|cancelled"), timeout=timeout
    )
    return status


def _assert_details(status, expected: dict):
    expect(status.get_by_test_id("count-unmatched-users")).to_have_text(
        str(expected["unmatched_users"])
    )
    expect(status.get_by_test_id("count-matched-students")).to_have_text(
        str(expected["matched_students"])
    )
    expect(status.get_by_test_id("count-matched-teachers")).to_have_text(
        str(expected["matched_teachers"])
    )
    expect(status.get_by_test_id("count-imported-classes")).to_have_text(
        str(expected["imported_classes"])
    )


def test_1_sign_in_and_empty_state(page, school):
    missing = []
    page.on("response", lambda r: r.status == 404 and missing.append(r.url))
    page.goto("/auth/login")
    assert_no_axe_violations(page, "the sign-in page")
    sign_in(page, school["admin"].email)
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("directory")
    expect(empty).to_contain_text("client")
    expect(page.get_by_test_id("device")).to_contain_text("Demo District")
    page.shots("empty-state")
    assert_no_axe_violations(page, "the empty SIS Integration page")
    assert missing == []  # the favicon too


def _csp_violations(page) -> list[str]:
    """Console messages about anything the Content-Security-Policy refused."""
    seen: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and seen.append(m.text))
    return seen


def test_2_add_new_with_test_connection(page, school, demo_sis, app):
    violations = _csp_violations(page)
    sign_in(page, school["admin"].email)
    page.get_by_test_id("add-new").click()
    page.get_by_test_id("choose-oneroster").click()
    dialog = page.locator("#dialog-integration")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("link", name="Close")).to_be_visible()
    assert_no_axe_violations(page, "the empty Add OneRoster Sync dialog")
    dialog.get_by_label("Name").fill("Demo District SIS")
    dialog.get_by_label("Endpoint URL").fill(demo_sis.root_url)
    dialog.get_by_label("OAuth2 Token URL (optional)").fill(demo_sis.token_url)
    dialog.get_by_label("Client ID").fill(demo_sis.client_id)
    dialog.get_by_label("Client Secret").fill("not-the-secret")
    dialog.get_by_test_id("test-connection").click()
    expect(dialog.get_by_test_id("test-error-code")).to_have_text("OR120")
    expect(dialog.get_by_test_id("test-error-action")).to_be_visible()
    expect(dialog.get_by_test_id("test-error-message")).to_be_hidden()  # behind "Details"
    dialog.locator(".error-details summary").click()
    expect(dialog.get_by_test_id("test-error-message")).to_be_visible()
    page.shots("test-connection-bad-credentials")
    assert_no_axe_violations(page, "a failed Test Connection")
    dialog.get_by_label("Client Secret").fill(demo_sis.client_secret)
    dialog.get_by_test_id("test-connection").click()
    expect(dialog.get_by_test_id("test-ok")).to_be_visible()
    expect(dialog.get_by_test_id("test-schools")).to_have_text(str(len(demo_sis.district.schools)))
    expect(dialog.get_by_test_id("test-version")).to_contain_text("v1p")
    page.shots("test-connection-ok")
    assert_no_axe_violations(page, "a successful Test Connection")
    dialog.get_by_test_id("integration-submit").click()
    row = page.get_by_test_id("integration-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("integration-name")).to_have_text("Demo District SIS")
    assert demo_sis.client_secret not in page.content()
    expect(row.get_by_test_id("needs-sync")).to_have_count(0)  # never synced: no banner
    page.shots("integration-listed")
    assert_no_axe_violations(page, "the list with a new integration")
    assert violations == []


def test_3_invalid_inputs_keep_the_secret_and_enter_submits(page, school, demo_sis, app):
    violations = _csp_violations(page)
    sign_in(page, school["admin"].email)
    page.get_by_test_id("add-new").click()
    page.get_by_test_id("choose-oneroster").click()
    dialog = page.locator("#dialog-integration")
    # PowerSchool shares no parents: said as soon as both are chosen, before Submit.
    dialog.get_by_label("Sync Parent Data").check()
    dialog.get_by_label("Relationship Type").select_option("parent")
    hint = dialog.get_by_test_id("sync_parents-hint")
    expect(hint).to_be_hidden()
    dialog.get_by_label("Which SIS would you like to integrate?").select_option(label="PowerSchool")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Syncing Parent Data from PowerSchool is unavailable")
    expect(dialog.get_by_label("Sync Parent Data")).to_be_disabled()
    expect(dialog.get_by_label("Sync Parent Data")).not_to_be_checked()
    page.shots("powerschool-parents-hint")
    assert_no_axe_violations(page, "the PowerSchool parent hint")
    dialog.get_by_label("Endpoint URL").fill("not a url")
    dialog.get_by_label("Client ID").fill(demo_sis.client_id)
    dialog.get_by_label("Client Secret").fill(demo_sis.client_secret)
    dialog.get_by_test_id("integration-submit").click()
    dialog = page.locator("#dialog-integration")
    expect(dialog).to_contain_text("Give the integration a name.")
    expect(dialog).to_contain_text("The endpoint URL must be a full URL")
    expect(dialog.locator("p.error")).to_have_count(2)  # one per field, no parent error
    name = dialog.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", re.compile(r"\bname-error\b"))
    expect(name).to_be_focused()
    # The secret the admin typed is kept (encrypted), never written into the page.
    secret = dialog.get_by_label("Client Secret")
    expect(secret).to_have_attribute("placeholder", re.compile("Kept"))
    assert demo_sis.client_secret not in page.content()
    page.shots("field-errors")
    assert_no_axe_violations(page, "the dialog with field errors")
    db.session.expire_all()
    assert db.session.query(OneRosterIntegration).count() == 0
    dialog.get_by_label("Endpoint URL").fill(demo_sis.root_url)
    dialog.get_by_label("OAuth2 Token URL (optional)").fill(demo_sis.token_url)
    name.fill("Typed Once")
    name.press("Enter")  # Enter submits the dialog, not Test Connection
    row = page.get_by_test_id("integration-row")
    expect(row.get_by_test_id("integration-name")).to_have_text("Typed Once")
    expect(page.get_by_test_id("test-result")).to_have_count(0)
    db.session.expire_all()
    saved = db.session.query(OneRosterIntegration).one()
    box = SecretBox(app.config["ENCRYPTION_KEY"])
    assert box.decrypt(saved.client_secret_encrypted) == demo_sis.client_secret
    assert violations == []


def test_4_sync_shows_live_progress_and_expected_details(page, school, demo_sis, app):
    violations = _csp_violations(page)
    integration = _integration(app, school, demo_sis)
    demo_sis.faults.latency_ms = 120
    sign_in(page, school["admin"].email)
    page.locator(f"#integration-{integration.id}").get_by_test_id("sync").click()
    status = page.locator(f"#run-status-{integration.id}")
    live = page.locator(f"#integration-{integration.id} [aria-live=polite]")
    expect(live).to_have_count(1)
    expect(live.locator(f"#run-status-{integration.id}")).to_have_count(1)
    expect(status).to_have_attribute("data-status", re.compile("queued|running"))
    expect(status).to_have_attribute("data-status", "running", timeout=30_000)
    assert_no_axe_violations(page, "a running sync")
    seen, by_collection = set(), []
    for _ in range(60):
        if status.get_attribute("data-status") != "running":
            break
        phase = status.get_by_test_id("run-phase")
        if phase.count():
            before = len(seen)
            seen.add((phase.inner_text(), status.get_by_test_id("records-read").inner_text()))
            collections = status.get_by_test_id("collections-read")
            if collections.count():
                by_collection.append(collections.inner_text())
            if before == 1 and len(seen) == 2:
                page.shots("live-progress")
        page.wait_for_timeout(500)
    assert len(seen) >= 2, f"the fragment did not change while running: {seen}"
    assert any(re.search(r"Users: [\d,]+", text) for text in by_collection), by_collection
    expect(status).to_have_attribute("data-status", "succeeded", timeout=60_000)
    _assert_details(status, _expected(demo_sis))
    page.shots("sync-details")
    assert_no_axe_violations(page, "Sync Details")
    assert violations == []


def test_5_view_log_and_unmatched_users(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    status = _sync_and_wait(page, integration.id)
    expected = _expected(demo_sis)
    row = page.locator(f"#integration-{integration.id}")
    row.get_by_test_id("view-log").click()
    log = page.locator("#dialog-log")
    expect(log).to_be_visible()
    expect(log.get_by_test_id("log-lines")).to_contain_text("users")
    expect(log.locator("ol.log time").first).to_have_text(re.compile(r"^\d\d:\d\d:\d\d C[SD]T$"))
    page.shots("view-log")
    assert_no_axe_violations(page, "View Log")
    page.keyboard.press("Escape")
    status.get_by_test_id("unmatched-link").click()
    expect(page.get_by_test_id("unmatched-total")).to_have_text(str(expected["unmatched_users"]))
    expect(page.get_by_test_id("unmatched-hint")).to_contain_text("email")
    page.shots("unmatched-users")
    assert_no_axe_violations(page, "Unmatched Users")
    with page.expect_download() as download_info:
        page.get_by_test_id("unmatched-csv").click()
    csv_text = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert len(csv_text.strip().splitlines()) == expected["unmatched_users"] + 1


def test_6_exclude_a_school_and_sync_again(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    _sync_and_wait(page, integration.id)
    excluded = demo_sis.district.schools[0]["sourcedId"]
    page.locator(f"#integration-{integration.id}").get_by_test_id("exclude-schools").click()
    dialog = page.locator("#dialog-exclude")
    dialog.get_by_test_id(f"school-{excluded}").locator("input").check()
    expect(dialog.get_by_test_id("excluded-schools")).to_contain_text(
        demo_sis.district.schools[0]["name"]
    )
    page.shots("exclude-school")
    assert_no_axe_violations(page, "Exclude Schools")
    dialog.get_by_test_id("exclude-submit").click()
    status = _sync_and_wait(page, integration.id)
    expected = _expected(demo_sis, excluded_schools=(excluded,))
    assert expected["matched_students"] < _expected(demo_sis)["matched_students"]
    _assert_details(status, expected)
    page.shots("after-exclude")


def test_7_reset_edit_delete(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    _sync_and_wait(page, integration.id)
    row = page.locator(f"#integration-{integration.id}")

    row.get_by_test_id("reset").click()
    dialog = page.locator("#dialog-reset")
    expect(dialog.get_by_test_id("confirm-yes")).to_be_disabled()
    expect(dialog.get_by_test_id("confirm-yes")).to_have_text("Yes, Reset")
    dialog.get_by_label("I Understand").check()
    expect(dialog.get_by_test_id("confirm-yes")).to_be_enabled()
    page.shots("reset-confirm")
    assert_no_axe_violations(page, "the Reset confirmation")
    dialog.get_by_test_id("confirm-yes").click()
    expect(page.locator("#dialog-reset")).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(OneRosterIntegration, integration.id).last_sync_at is None

    page.locator(f"#integration-{integration.id}").get_by_test_id("edit").click()
    dialog = page.locator("#dialog-integration")
    expect(dialog.get_by_label("Client Secret")).to_have_value("")
    assert demo_sis.client_secret not in page.content()
    dialog.get_by_label("Name").fill("Renamed SIS")
    dialog.get_by_test_id("integration-submit").click()
    row = page.locator(f"#integration-{integration.id}")
    expect(row.get_by_test_id("integration-name")).to_have_text("Renamed SIS")
    expect(row.get_by_test_id("needs-sync")).to_be_visible()
    page.shots("edited-needs-sync")
    # The successful sync takes the banner away, without a reload.
    _sync_and_wait(page, integration.id)
    expect(row.get_by_test_id("needs-sync")).to_have_count(0)

    row.get_by_test_id("delete").click()
    dialog = page.locator("#dialog-delete")
    expect(dialog.get_by_test_id("confirm-yes")).to_be_disabled()
    expect(dialog.get_by_test_id("confirm-yes")).to_have_text("Yes, Delete")
    assert_no_axe_violations(page, "the Delete confirmation")
    dialog.get_by_label("I Understand").check()
    dialog.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("integration-row")).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Directory").click()
    expect(page.get_by_test_id("directory-count")).to_contain_text(
        str(len(demo_sis.district.directory_rows()))
    )
    expected = _expected(demo_sis)
    expect(page.get_by_test_id("directory-classrooms")).to_contain_text(
        str(expected["imported_classes"])
    )
    page.shots("directory-after-delete")
    assert_no_axe_violations(page, "the Directory")


def test_8_failing_and_partial_syncs(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    demo_sis.faults.error_rate = 1.0
    status = _sync_and_wait(page, integration.id, timeout=120_000)
    expect(status).to_have_attribute("data-status", "failed")
    expect(status.get_by_test_id("error-code")).to_have_text(re.compile(r"OR1\d\d"))
    expect(status.get_by_test_id("error-action")).to_be_visible()
    expect(status.get_by_test_id("error-message")).to_be_hidden()  # the raw text: "Details"
    status.locator(".error-details summary").click()
    expect(status.get_by_test_id("error-message")).to_be_visible()
    page.shots("failed-sync")
    assert_no_axe_violations(page, "a failed sync")
    demo_sis.faults.error_rate = 0.0
    broken = demo_sis.district.schools[1]
    demo_sis.faults.broken_school = broken["sourcedId"]
    status = _sync_and_wait(page, integration.id, timeout=120_000)
    expect(status).to_have_attribute("data-status", "partial")
    expect(status.get_by_test_id("error-message")).to_contain_text(broken["name"])
    page.shots("partial-sync")
    assert_no_axe_violations(page, "a partly failed sync")


def test_9_cancel_a_long_sync(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    demo_sis.faults.latency_ms = 50
    _sync_and_wait(page, integration.id)  # the basis of the estimate
    page.get_by_test_id("reset").click()  # full again, like the first one
    page.locator("#dialog-reset").get_by_label("I Understand").check()
    page.locator("#dialog-reset").get_by_test_id("confirm-yes").click()
    expect(page.locator("#dialog-reset")).to_have_count(0)
    demo_sis.faults.latency_ms = 400
    page.locator(f"#integration-{integration.id}").get_by_test_id("sync").click()
    status = page.locator(f"#run-status-{integration.id}")
    expect(status).to_have_attribute("data-status", "running", timeout=30_000)
    expect(status.get_by_test_id("time-left")).to_contain_text(
        "left, based on the last sync", timeout=30_000
    )
    page.shots("long-sync-running")
    status.get_by_test_id("cancel-sync").click()
    expect(status).to_have_attribute("data-status", "cancelled", timeout=60_000)
    page.shots("cancelled")


def test_10_parents_tab_lists_the_districts_parents(page, school, demo_sis, app):
    integration = _integration(app, school, demo_sis, sync_parents=True, relationship_type="parent")
    sign_in(page, school["admin"].email)
    _sync_and_wait(page, integration.id)
    expected = _expected(demo_sis, parents="parent")
    assert expected["parents"] > 0
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Directory").click()
    assert_no_axe_violations(page, "Directory users")
    page.get_by_test_id("directory-classrooms").click()
    expect(page.get_by_test_id("classroom-source").first).to_have_text("Demo District SIS")
    assert_no_axe_violations(page, "Directory classrooms")
    page.get_by_test_id("directory-parents").click()
    expect(page.get_by_test_id("directory-parents")).to_contain_text(f"({expected['parents']})")
    expect(page.get_by_test_id("parent-count")).to_contain_text(f"of {expected['parents']}")
    first = page.get_by_test_id("parent-row").first
    expect(first).to_contain_text("Parent")
    expect(first).to_contain_text("Demo District SIS")
    expect(first.get_by_test_id("parent-students")).not_to_be_empty()
    page.shots("directory-parents")
    assert_no_axe_violations(page, "Directory parents")
    name = first.locator("td").first.inner_text().split()[0]
    page.get_by_label("Search parents by name or email").fill(name)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("parent-row").first).to_contain_text(name)


LONG_NAME = "N" * 120
LONG_ERROR = "HTTPConnectionPool(host='" + "sis-" * 60 + "example.org', port=80)"


@pytest.mark.parametrize("width", [390, 320])
def test_11_nothing_overflows_on_a_phone(page, school, demo_sis, app, width):
    from tests.factories import make_run

    integration = _integration(app, school, demo_sis, name=LONG_NAME)
    run = make_run(
        integration, status=SyncStatus.FAILED, error_code="OR110", error_message=LONG_ERROR
    )
    db.session.add(SyncLogLine(run_id=run.id, level="error", message=LONG_ERROR))
    db.session.commit()
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, school["admin"].email)
    row = page.locator(f"#integration-{integration.id}")
    row.locator(".error-details summary").click()
    expect(row.get_by_test_id("error-message")).to_be_visible()
    assert_no_horizontal_overflow(page, "the list")
    for button, dialog_id in (
        ("edit", "#dialog-integration"),
        ("view-log", "#dialog-log"),
        ("exclude-schools", "#dialog-exclude"),
        ("reset", "#dialog-reset"),
    ):
        row.get_by_test_id(button).click()
        expect(page.locator(dialog_id)).to_be_visible()
        assert_no_horizontal_overflow(page, dialog_id)
        box = page.locator(dialog_id).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (dialog_id, box)
        if width == 390:
            page.shots(f"phone-{button}")
        page.keyboard.press("Escape")
        expect(page.locator(dialog_id)).to_have_count(0)
    if width == 390:
        page.shots("phone-list")
        assert_no_axe_violations(page, "the list on a phone")
    page.goto("/sis-integration/error-codes")
    assert_no_horizontal_overflow(page, "the error codes")
    if width == 390:
        assert_no_axe_violations(page, "the error codes page")
