"""The command-line contract of issue 5, item 11: names, options, JSON keys, exit codes."""

import json
from datetime import UTC, datetime

import pytest

from sisapp.demo_sis import DistrictSpec, generate_district
from sisapp.models import OneRosterIntegration, Region
from tests.helpers.app import make_device
from tests.helpers.demo_sis import import_directory, running_sis
from tests.helpers.sync_district import CLIENT_ID, CLIENT_SECRET

KEYS = {"status", "unmatched_users", "matched_students", "matched_teachers", "imported_classes",
        "parents", "error_code", "message", "changes"}  # fmt: skip


@pytest.fixture
def app_config():
    return {"SYNC_MAX_RETRIES": 1, "SYNC_PAGE_SIZE": 200}


@pytest.fixture
def uk_district():
    # A UTC device and a district whose "today" is the UTC date, so both agree on today.
    return generate_district(DistrictSpec(schools=2, students=120, seed=3, today=datetime.now(UTC).date()))  # fmt: skip


@pytest.fixture
def uk_sis(uk_district):
    with running_sis(uk_district, CLIENT_ID, CLIENT_SECRET) as server:
        yield server


@pytest.fixture
def cli(app, uk_district, tmp_path):
    device = make_device("CLI School", Region.UK)
    import_directory(device, uk_district, tmp_path)
    runner = app.test_cli_runner()

    def invoke(*args, secret=CLIENT_SECRET):
        return runner.invoke(args=list(args), env={"SISAPP_CLIENT_SECRET": secret})

    return invoke


def _add(cli, sis, *extra, secret=CLIENT_SECRET):
    result = cli("integration", "add", "--device", "CLI School", "--name", "Demo", "--sis", "Other",
                 "--endpoint", sis.root_url, "--token-url", sis.token_url, "--client-id", CLIENT_ID,
                 *extra, secret=secret)  # fmt: skip
    assert result.exit_code == 0, result.output
    return int(result.output.strip().splitlines()[-1])


def _sync(cli, integration_id, *extra):
    result = cli("sync", "run", str(integration_id), "--json", *extra)
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert set(payload) == KEYS
    return result.exit_code, payload


def test_add_list_and_sync(cli, uk_sis, uk_district, app):
    school = uk_district.schools[0]["sourcedId"]
    iid = _add(cli, uk_sis, "--parents", "Guardian", "--respect-enrolment-date",
               "--respect-academic-sessions", "--exclude-school", school)  # fmt: skip
    integration = app.extensions["sqlalchemy"].session.get(OneRosterIntegration, iid)
    assert integration.sync_parents and integration.relationship_type.value == "guardian"
    assert integration.excluded_school_ids == [school] and integration.sync_classes
    assert integration.client_secret_encrypted != CLIENT_SECRET
    listed = cli("integration", "list", "--device", "CLI School")
    assert listed.exit_code == 0 and f"{iid}\tDemo\tother" in listed.output

    code, payload = _sync(cli, iid)
    assert code == 0 and payload["status"] == "succeeded" and payload["error_code"] is None
    expected = uk_district.expected_counts(
        respect_enrolment_date=True, respect_academic_sessions=True, parents="guardian",
        excluded_schools=[school],
    )  # fmt: skip
    assert {k: payload[k] for k in expected} == expected
    code, payload = _sync(cli, iid, "--full")
    assert code == 0 and payload["matched_students"] == expected["matched_students"]

    text = cli("sync", "run", str(iid))
    assert text.exit_code == 0 and "Matched Students: " in text.output


def test_no_classes_and_powerschool_parents_refused(cli, uk_sis):
    iid = _add(cli, uk_sis, "--no-classes")
    code, payload = _sync(cli, iid)
    assert code == 0 and payload["imported_classes"] == 0
    refused = cli("integration", "add", "--device", "CLI School", "--name", "PS", "--sis",
                  "POWERSCHOOL", "--endpoint", uk_sis.root_url, "--client-id", "x",
                  "--parents", "parent")  # fmt: skip
    assert refused.exit_code != 0 and "PowerSchool is unavailable" in refused.output


def test_exit_codes_partial_and_failed(cli, uk_sis, uk_district):
    iid = _add(cli, uk_sis)
    assert _sync(cli, iid)[0] == 0
    uk_sis.faults.broken_school = 1
    # A full sync reads school by school (a delta reads the changes of all schools at once).
    code, payload = _sync(cli, iid, "--full")
    assert code == 1 and payload["status"] == "partial" and payload["error_code"] == "OR160"
    uk_sis.faults.broken_school = None
    bad = _add(cli, uk_sis, secret="not-the-secret")
    code, payload = _sync(cli, bad)
    assert code == 2 and payload["status"] == "failed" and payload["error_code"] == "OR120"
    code, payload = _sync(cli, 999999)
    assert code == 2 and payload["status"] == "failed"
