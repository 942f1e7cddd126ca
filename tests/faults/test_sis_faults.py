"""A misbehaving SIS: flaky answers and expiring tokens are ridden out; a malformed page
fails the run with its code and changes nothing."""

import re

import pytest

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.services import sync_runs
from tests.helpers.faults import worker
from tests.helpers.processes import finish
from tests.helpers.sync_state import (
    detail_counts,
    expected,
    log_lines,
    staged_rows,
    stored_state,
    synced_data,
)

pytestmark = pytest.mark.slow


def test_ten_percent_500s_and_429s_are_retried_to_a_correct_sync(
    integration, district, sis, sync_now, new_integration
):
    sis.faults.error_rate = 0.1
    sis.faults.rate_limit_rate = 0.1
    sis.faults.retry_after = 1
    requests_before = sis.request_count
    options = {"max_retries": 8, "backoff_base": 0.01}
    run = sync_now(integration, page_size=25, client_options=options)  # about 90 requests
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)

    lines = log_lines(run.id)
    retries = [line for line in lines if line.startswith("retry ")]
    assert any("after HTTP 429" in line for line in retries), lines
    assert any("after HTTP 500" in line for line in retries), lines
    assert any(re.search(r"HTTP 429 .* in 1\.0s", line) for line in retries)  # Retry-After
    summary = next(line for line in lines if re.match(r"read \d+ records", line))
    said = int(re.search(r"\((\d+) retries\)", summary).group(1))
    assert said == len(retries) > 0
    # Roughly a fifth of the requests failed at first (the seeded faults are random).
    assert 0.05 < len(retries) / (sis.request_count - requests_before) < 0.4

    sis.faults.error_rate = sis.faults.rate_limit_rate = 0
    clean = new_integration("Clean")
    assert sync_now(clean).status is SyncStatus.SUCCEEDED
    assert synced_data(integration.id) == synced_data(clean.id)


def test_tokens_expiring_every_few_seconds_during_a_long_read(integration, district, sis, sync_now):
    sis.faults.token_expiry = 1  # the token says 3600 s; the SIS drops it after 1 s
    sis.faults.latency_ms = 150
    tokens_before = sis.auth.tokens_issued
    run = sync_now(integration, concurrency=2, page_size=40)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)
    assert (run.finished_at - run.started_at).total_seconds() > 3  # several lifetimes
    refused = [line for line in log_lines(run.id) if "access token refused" in line]
    assert len(refused) >= 3
    assert sis.auth.tokens_issued - tokens_before >= 4


def test_a_malformed_page_deep_in_enrollments_fails_coded_and_changes_nothing(
    app, synced, district, sis, processes, queue_name, auth_client
):
    integration = synced
    district.apply_changes(0.1)
    sis.faults.malformed_at = ("enrollments", 450)  # the fifth page of a school's enrollments
    before = stored_state(integration.id)

    run, _ = sync_runs.request_sync(integration, full=True)
    finish(worker(processes, queue_name), timeout=120)
    run = db.session.get(SyncRun, run.id)
    db.session.refresh(run)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "OR150"), run.error_message
    assert run.records_read > 450  # it failed deep into the read, not at the start
    assert stored_state(integration.id) == before
    assert staged_rows() == 0

    page = auth_client.get(f"/sis-integration/{integration.id}/runs/{run.id}/status")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="error-code">OR150<' in html


def test_a_page_failing_more_often_than_the_retry_cap_is_read_in_a_second_pass(
    integration, district, sis, sync_now
):
    """Issue 17: seven failures in a row of one page no longer make the run partial."""
    sis.faults.flaky_page = ("users", 150, 8)  # more than 1 + 6 attempts; read once
    run = sync_now(integration, page_size=100)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)
    assert sis.faults.flaky_served == 9
    lines = log_lines(run.id)
    assert any("trying that page once more" in line for line in lines), lines


def test_a_lying_total_count_on_a_capped_sis_syncs_the_whole_district(
    integration, district, sis, sync_now
):
    """Issue 17: the OneRoster spec mock's negative total stopped every read after a page."""
    sis.faults.lying_total = "negative"
    sis.faults.max_page_size = 30
    run = sync_now(integration, page_size=100)
    assert run.status is SyncStatus.SUCCEEDED, (run.error_code, run.error_message)
    assert detail_counts(run) == expected(district)


def test_an_sis_without_school_orgs_fails_the_run_with_its_code(integration, sis, sync_now):
    sis.faults.no_schools = True
    run = sync_now(integration)
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "OR152"), run.error_message
    assert "and no school" in run.error_message
