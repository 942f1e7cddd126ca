"""Each fault flag, switched on at runtime on a live server."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
import requests

from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district
from sisapp.demo_sis.faults import parse_malformed_at
from tests.helpers.demo_api import TODAY, bearer_session

V1 = "/ims/oneroster/v1p1"


def test_latency(server, api):
    server.faults.latency_ms = 150
    started = time.perf_counter()
    assert api.get(server.root_url + V1 + "/orgs").status_code == 200
    assert time.perf_counter() - started >= 0.15
    assert server.busy_seconds < 0.15  # the sleep is not counted as server work


def test_error_and_rate_limit_rates(server, api):
    server.faults.error_rate = 1.0
    answer = api.get(server.root_url + V1 + "/users")
    assert answer.status_code == 500 and answer.json()["imsx_codeMajor"] == "failure"
    server.faults.error_rate, server.faults.rate_limit_rate, server.faults.retry_after = 0.0, 1.0, 7
    answer = api.get(server.root_url + V1 + "/users")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    server.faults.rate_limit_rate, server.faults.error_rate = 0.25, 0.25
    statuses = [api.get(server.root_url + V1 + "/orgs").status_code for _ in range(80)]
    assert 8 <= statuses.count(429) <= 35 and 8 <= statuses.count(500) <= 35
    assert statuses.count(200) >= 20


def test_faults_rolls_are_seeded():
    rolls = [Faults(error_rate=0.3, rate_limit_rate=0.3, seed=4).roll() for _ in range(1)]
    one, two = (
        Faults(error_rate=0.3, rate_limit_rate=0.3, seed=4),
        Faults(error_rate=0.3, rate_limit_rate=0.3, seed=4),
    )
    assert [one.roll() for _ in range(50)] == [two.roll() for _ in range(50)]
    assert rolls[0] in (None, "429", "500")


def test_max_page_size_caps_limit_silently(server, api, district):
    server.faults.max_page_size = 40
    answer = api.get(server.root_url + V1 + "/enrollments", params={"limit": 100})
    assert len(answer.json()["enrollments"]) == 40
    assert answer.headers["X-Total-Count"] == str(len(district.enrollments))
    assert "limit=40" in answer.headers["Link"] and "offset=40" in answer.headers["Link"]


def test_no_total_count(server, api):
    server.faults.no_total_count = True
    answer = api.get(server.root_url + V1 + "/users", params={"limit": 10})
    assert "X-Total-Count" not in answer.headers
    assert 'rel="next"' in answer.headers["Link"] and 'rel="last"' not in answer.headers["Link"]


def test_malformed_page(server, api):
    server.faults.malformed_at = parse_malformed_at("enrollments:200")
    assert server.faults.malformed_at == ("enrollments", 200)
    bad = api.get(server.root_url + V1 + "/enrollments", params={"limit": 100, "offset": 200})
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad.text)
    assert api.get(
        server.root_url + V1 + "/enrollments", params={"limit": 100, "offset": 100}
    ).json()
    assert api.get(
        server.root_url + V1 + "/enrollments", params={"limit": 100, "offset": 300}
    ).json()


@pytest.mark.parametrize("which", [1, "1", "sch-002"])
def test_broken_school(server, api, district, which):
    server.faults.broken_school = which
    broken = district.schools[1]["sourcedId"]
    assert broken == "sch-002"
    for sub in ("classes", "enrollments", "students", "teachers", "courses"):
        answer = api.get(f"{server.root_url}{V1}/schools/{broken}/{sub}")
        assert answer.status_code == 500 and broken in answer.json()["imsx_description"]
    filtered = api.get(
        server.root_url + V1 + "/classes", params={"filter": f"school.sourcedId='{broken}'"}
    )
    assert filtered.status_code == 500
    healthy = district.schools[0]["sourcedId"]
    assert api.get(f"{server.root_url}{V1}/schools/{healthy}/classes").status_code == 200
    assert api.get(server.root_url + V1 + "/schools").status_code == 200


def test_token_expiry(server, api):
    server.faults.token_expiry = 0.5
    assert api.get(server.root_url + V1 + "/orgs").status_code == 200
    time.sleep(0.6)  # the live server's token clock is real time
    expired = api.get(server.root_url + V1 + "/orgs")
    assert expired.status_code == 401 and "expired" in expired.json()["imsx_description"]
    with bearer_session(server) as fresh:
        assert fresh.get(server.root_url + V1 + "/orgs").status_code == 200


def test_changed_share_gives_a_delta_sync_work():
    district = generate_district(DistrictSpec(schools=2, students=200, seed=9, today=TODAY))
    with DemoSISServer(district, faults=Faults(seed=1)) as server, bearer_session(server) as api:
        total = len(api.get(server.root_url + V1 + "/users?limit=1000").json()["users"])
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
        delta = {"filter": f"dateLastModified>'{since}'", "limit": 1000}
        assert api.get(server.root_url + V1 + "/users", params=delta).json()["users"] == []
        before = district.expected_counts()
        server.faults.changed_share = 0.02
        users = api.get(server.root_url + V1 + "/users", params=delta).json()["users"]
        assert users and len(users) < total
        assert any(u["status"] == "tobedeleted" for u in users)
        assert api.get(server.root_url + V1 + "/enrollments", params=delta).json()["enrollments"]
        assert api.get(
            server.root_url + "/ims/oneroster/rostering/v1p2/classes", params=delta
        ).json()["classes"]
        assert district.revision == 1 and district.expected_counts() != before
        api.get(server.root_url + V1 + "/users", params=delta)
        assert district.revision == 1  # applied once, not on every request
        full = api.get(server.root_url + V1 + "/users?limit=1000").json()["users"]
        assert len(full) == len(district.users)


def test_server_serves_a_future_today_district(tmp_path):
    """A district generated for any date still has a current year and base stamps in the past."""
    district = generate_district(
        DistrictSpec(schools=1, students=40, seed=2, today=date(2031, 7, 31))
    )
    assert district.expected_counts(respect_enrolment_date=True)["matched_students"] > 0
    assert max(u["dateLastModified"] for u in district.users) < time.strftime("%Y-%m-%dT%H:%M:%S")
    with DemoSISServer(district) as server:
        assert requests.get(server.root_url + V1 + "/orgs", timeout=5).status_code == 401


@pytest.mark.parametrize(("lie", "sent"), [("negative", "-98596497"), ("zero", "0"), ("page", "7")])
def test_lying_total_replaces_the_total_and_drops_the_links(server, api, lie, sent):
    server.faults.lying_total = lie
    answer = api.get(server.root_url + V1 + "/users", params={"limit": 7})
    assert answer.status_code == 200 and len(answer.json()["users"]) == 7
    assert answer.headers["X-Total-Count"] == sent and "Link" not in answer.headers


def test_no_schools_types_the_schools_as_departments(server, api, district):
    server.faults.no_schools = True
    assert api.get(server.root_url + V1 + "/schools").json()["orgs"] == []
    orgs = api.get(server.root_url + V1 + "/orgs").json()["orgs"]
    assert sorted(org["type"] for org in orgs) == ["department"] * len(district.schools) + [
        "district"
    ]


def test_flaky_page_fails_its_first_requests_then_serves(server, api):
    server.faults.flaky_page = ("enrollments", 150, 2)
    page = server.root_url + V1 + "/enrollments"
    statuses = [api.get(page, params={"offset": 100}).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert api.get(page, params={"offset": 0}).status_code == 200  # other pages unaffected
    assert server.faults.flaky_served == 3
