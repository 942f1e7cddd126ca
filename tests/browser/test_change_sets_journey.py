"""Issue 16 in a real browser: Preview, a sync blocked by the safety threshold and
Allow these removals, the classes-off warning in Edit, and what Reset and Cancel leave on
the row. Each state is checked with axe-core (0 violations) and for no sideways scrolling
at 390 px. Screenshots go to test-artifacts/screenshots/.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_admin_journey import _integration, _sync_and_wait, _wait_for_runs_to_end
from tests.helpers.browser import assert_no_axe_violations, assert_no_horizontal_overflow, sign_in

PHONE = {"width": 390, "height": 800}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def bad_pull(demo_sis):
    """Makes the first school's enrollments vanish from the SIS on demand (past the
    safety threshold); the district is the session's, so it is put back afterwards."""
    district = demo_sis.district
    with district.lock:
        kept = list(district.enrollments)

    def drop():
        gone = district.schools[0]["sourcedId"]
        with district.lock:
            district.enrollments[:] = [e for e in kept if e["school"]["sourcedId"] != gone]
            district.touch()

    yield drop
    _wait_for_runs_to_end()
    with district.lock:
        district.enrollments[:] = kept
        district.touch()
    demo_sis.faults.latency_ms = 0


def _check(page, state: str, dialog: str | None = None) -> None:
    """axe-core finds nothing, and at 390 px nothing scrolls sideways (the dialog fits)."""
    page.shots(re.sub(r"\W+", "-", state))
    assert_no_axe_violations(page, state)
    page.set_viewport_size(PHONE)
    assert_no_horizontal_overflow(page, state)
    if dialog:
        box = page.locator(dialog).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (state, box)
    page.shots(re.sub(r"\W+", "-", state) + "-phone")
    page.set_viewport_size(DESKTOP)


def _preview_and_wait(page, integration_id: int, outcome: str):
    region = page.locator(f"#preview-status-{integration_id}")
    previous = region.get_attribute("data-run-id") or "none"
    page.locator(f"#integration-{integration_id}").get_by_test_id("preview").click()
    expect(region).not_to_have_attribute("data-run-id", previous)
    expect(region).to_have_attribute("data-status", outcome, timeout=60_000)
    return region


def test_preview_blocked_sync_and_allow_these_removals(page, school, demo_sis, app, bad_pull):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    row = page.locator(f"#integration-{integration.id}")
    status = _sync_and_wait(page, integration.id)
    expect(status).to_have_attribute("data-status", "succeeded")
    expect(status.get_by_test_id("change-classrooms")).to_contain_text(re.compile(r"^\+\d+ / "))
    expect(row.get_by_test_id("next-full-read")).to_contain_text(re.compile(r"\d"))

    # Preview: what a sync would do now; nothing changes.
    preview = _preview_and_wait(page, integration.id, "preview")
    expect(preview.get_by_test_id("preview-result")).to_contain_text(
        "Preview — nothing was changed"
    )
    expect(preview.get_by_test_id("preview-not-blocked")).to_be_visible()
    expect(status).to_have_attribute("data-status", "succeeded")  # the sync's region stays
    _check(page, "a preview")

    # Reset: the row says the next sync reads everything, the details stay.
    bad_pull()
    row.get_by_test_id("reset").click()
    page.locator("#dialog-reset").get_by_label("I Understand").check()
    page.locator("#dialog-reset").get_by_test_id("confirm-yes").click()
    expect(page.locator("#dialog-reset")).to_have_count(0)
    expect(row.get_by_test_id("reset-note")).to_contain_text("the next sync reads everything")
    expect(
        page.locator(f"#run-status-{integration.id}").get_by_test_id("sync-details")
    ).to_be_visible()
    _check(page, "after Reset")

    # A preview now foretells the block...
    preview = _preview_and_wait(page, integration.id, "blocked")
    expect(preview.get_by_test_id("preview-blocked")).to_contain_text("A sync now would be blocked")
    expect(preview.get_by_test_id("preview-refused")).to_contain_text("classroom memberships")
    _check(page, "a preview that would be blocked")

    # ...and the sync is Blocked, with what it refused and the way on.
    status = page.locator(f"#run-status-{integration.id}")
    row.get_by_test_id("sync").click()
    expect(status).to_have_attribute("data-status", "blocked", timeout=60_000)
    expect(status.get_by_test_id("last-sync")).to_contain_text("Last sync attempt: blocked")
    refused = status.get_by_test_id("refused-changes")
    expect(refused).to_contain_text("classroom memberships")
    expect(refused.locator(".change-rows li").first).to_contain_text("Removed")
    expect(status.get_by_test_id("last-good-sync")).to_be_visible()
    _check(page, "a blocked sync")

    status.get_by_test_id("allow-removals").click()
    dialog = page.locator("#dialog-allow-removals")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("allow-refused")).to_contain_text("classroom memberships")
    yes = dialog.get_by_test_id("confirm-yes")
    expect(yes).to_be_disabled()
    _check(page, "the Allow these removals dialog", "#dialog-allow-removals")
    dialog.get_by_label("I Understand").check()
    expect(yes).to_be_enabled()
    yes.click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".flash")).to_contain_text("may pass the safety threshold once")
    status = page.locator(f"#run-status-{integration.id}")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(status.get_by_test_id("change-memberships")).to_contain_text(re.compile(r"\u2212[1-9]"))
    expect(status.get_by_test_id("allow-removals")).to_have_count(0)
    _check(page, "the allowed sync")

    # View Log: the run's change set by kind, each kind as CSV.
    row.get_by_test_id("view-log").click()
    log = page.locator("#dialog-log")
    expect(log.get_by_test_id("log-changes")).to_contain_text("What this run changed")
    expect(log.get_by_test_id("changes-memberships")).to_contain_text("Removed")
    with page.expect_download() as download:
        log.get_by_test_id("changes-csv-memberships").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0] == "subject,change,reason" and ",removed," in lines[1], lines[:2]
    _check(page, "View Log with the change set", "#dialog-log")


def test_classes_off_warning_and_cancel_display(page, school, demo_sis, app, bad_pull):
    integration = _integration(app, school, demo_sis)
    sign_in(page, school["admin"].email)
    row = page.locator(f"#integration-{integration.id}")
    _sync_and_wait(page, integration.id)
    counts = row.get_by_test_id("count-matched-students").inner_text()

    # Unticking Sync Classroom Data says what the next sync will remove, before Submit.
    row.get_by_test_id("edit").click()
    dialog = page.locator("#dialog-integration")
    expect(dialog).to_be_visible()
    announcement = dialog.get_by_test_id("removal-announcement")
    expect(announcement).to_have_count(0)
    dialog.get_by_label("Sync Classroom Data").uncheck()
    expect(announcement).to_contain_text(
        re.compile(r"The next sync will remove [\d,]+ classrooms and [\d,]+ memberships")
    )
    _check(page, "the classes-off warning", "#dialog-integration")
    dialog.get_by_label("Sync Classroom Data").check()
    expect(announcement).to_have_count(0)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # Moving a school to Excluded says what the next sync will remove, before Submit.
    row.get_by_test_id("exclude-schools").click()
    dialog = page.locator("#dialog-exclude")
    expect(dialog).to_be_visible()
    school = demo_sis.district.schools[1]
    dialog.get_by_test_id(f"school-{school['sourcedId']}").get_by_role("checkbox").check()
    announcement = dialog.get_by_test_id("removal-announcement")
    expect(announcement).to_contain_text(re.compile(r"The next sync will remove [1-9][\d,]* class"))
    _check(page, "the exclude warning", "#dialog-exclude")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # Cancel: the last good Sync Details stay, with "Last sync attempt: cancelled".
    row.get_by_test_id("reset").click()  # a full read: long enough to cancel
    page.locator("#dialog-reset").get_by_label("I Understand").check()
    page.locator("#dialog-reset").get_by_test_id("confirm-yes").click()
    expect(page.locator("#dialog-reset")).to_have_count(0)
    demo_sis.faults.latency_ms = 400
    status = page.locator(f"#run-status-{integration.id}")
    row.get_by_test_id("sync").click()
    expect(status.get_by_test_id("cancel-sync")).to_be_visible()
    status.get_by_test_id("cancel-sync").click()
    expect(status).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(status.get_by_test_id("last-sync")).to_contain_text("Last sync attempt: cancelled")
    expect(status.get_by_test_id("last-good-sync")).to_be_visible()
    expect(status.get_by_test_id("count-matched-students")).to_have_text(counts)
    demo_sis.faults.latency_ms = 0
    page.reload()
    status = page.locator(f"#run-status-{integration.id}")
    expect(status.get_by_test_id("last-sync")).to_contain_text("Last sync attempt: cancelled")
    expect(status.get_by_test_id("count-matched-students")).to_have_text(counts)
    expect(row.get_by_test_id("reset-note")).to_be_visible()  # still reads everything next
    _check(page, "after Cancel")
