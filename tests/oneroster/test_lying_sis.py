"""A SIS that lies about its totals, has no schools, fails a page many times or wants
OAuth 2.0 without a token URL, over real HTTP against the demo SIS (issue 17)."""

import pytest

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district
from sisapp.oneroster import ConnectionSettings, ErrorCode, OneRosterClient, OneRosterError


@pytest.fixture(scope="module")
def district():
    return generate_district(DistrictSpec(schools=3, students=120, seed=17))


def _client(server, logs=None, **extra) -> OneRosterClient:
    settings = ConnectionSettings(
        endpoint_url=server.base_url("v1p2"),
        client_id=server.client_id,
        client_secret=server.client_secret,
        allow_private=True,
        **{
            "token_url": server.token_url,
            "page_size": 100,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            **extra,
        },
    )
    warnings = [] if logs is None else logs
    return OneRosterClient(settings, log=lambda m: None, warn=warnings.append)


def _ids(records):
    return sorted(record.sourced_id for record in records)


def _district_ids(district, name):
    return sorted(record["sourcedId"] for record in district.collection(name))


@pytest.mark.parametrize("lie", ["negative", "zero", "page"])
@pytest.mark.parametrize(("cap", "concurrency"), [(30, 1), (30, 4), (None, 4)])
def test_a_lying_total_never_stops_the_read_early(district, lie, cap, concurrency):
    faults = Faults(lying_total=lie, max_page_size=cap)
    warnings = []
    with (
        DemoSISServer(district, faults=faults) as server,
        _client(
            server, warnings, concurrency=concurrency, page_size=50 if cap is None else 100
        ) as client,
    ):
        assert _ids(client.users()) == _district_ids(district, "users")
        assert _ids(client.enrollments()) == _district_ids(district, "enrollments")
        schools = [school.sourced_id for school in client.schools()]
        assert schools == [school["sourcedId"] for school in district.schools]
        # Per school, through the read-ahead, as the sync reads rosters.
        with client.school_rosters((sid, None) for sid in schools) as rosters:
            read = sorted(r.sourced_id for roster in rosters for r in roster)
        assert read == sorted(
            _district_ids(district, "classes") + _district_ids(district, "enrollments")
        )
    wrong = [line for line in warnings if "wrong total" in line]
    assert wrong, warnings
    assert len(wrong) == len({line.split(" for ")[1].split(" ")[0] for line in wrong})  # once each


@pytest.mark.parametrize("lie", ["negative", "page"])
def test_check_reports_the_schools_received_not_the_header(district, lie):
    with DemoSISServer(district, faults=Faults(lying_total=lie, max_page_size=2)) as server:
        result = _client(server).check()
    assert result.ok and result.schools == len(district.schools), result


def test_no_school_orgs_is_a_coded_failure_naming_what_the_sis_sent(district):
    with DemoSISServer(district, faults=Faults(no_schools=True)) as server:
        client = _client(server)
        with pytest.raises(OneRosterError) as info:
            list(client.schools())
        error = info.value
        assert error.code is ErrorCode.NO_SCHOOLS and error.code.value == "OR152"
        count = len(district.schools) + 1
        assert (
            f"The SIS returned {count} organisations (department: {count - 1}, district: 1) "
            "and no school." in str(error)
        )
        check = _client(server).check()
    assert check.ok and check.schools == 0
    assert "and no school" in check.message and "OR152" in check.message


def test_a_page_failing_more_often_than_the_retry_cap_gets_a_second_pass(district):
    faults = Faults(flaky_page=("enrollments", 150, 5))  # 5 failures: more than 1 + 2 attempts
    with DemoSISServer(district, faults=faults) as server:
        client = _client(server, max_retries=2, failed_page_pause=0.05)
        assert _ids(client.enrollments()) == _district_ids(district, "enrollments")
        assert faults.flaky_served == 6  # 3 failed, then 2 failed and 1 served in the pass

        faults.flaky_page, faults.flaky_served = ("enrollments", 150, 7), 0
        with pytest.raises(OneRosterError) as info:
            list(_client(server, max_retries=2, failed_page_pause=0.05).enrollments())
        assert info.value.code is ErrorCode.SERVER_ERROR  # one more pass only
        assert faults.flaky_served == 6


def test_an_oauth2_only_sis_without_token_url_asks_for_one(district):
    with DemoSISServer(district, oauth1=False) as server:
        result = _client(server, token_url=None).check()
    assert (result.ok, result.error_code) == (False, "OR125")
    assert "wants OAuth 2.0" in result.message and "Token URL" in result.message
