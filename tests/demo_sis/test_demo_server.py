"""The demo SIS over HTTP: paging, shapes, filters, errors and both OneRoster versions."""

from __future__ import annotations

import re

import pytest
import requests

from sisapp.demo_sis import DemoSISServer
from tests.helpers.demo_api import TODAY

V1 = "/ims/oneroster/v1p1"
V2 = "/ims/oneroster/rostering/v1p2"


def _links(response) -> dict[str, str]:
    return {
        rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    }


def test_urls_and_context_manager(district):
    with DemoSISServer(district) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.root_url)
        assert server.token_url == server.root_url + "/oauth/token"
        assert server.base_url("v1p2") == server.root_url + V2
        requests.get(server.root_url + V1 + "/orgs", timeout=5)
        assert server.request_count == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(server.root_url + V1 + "/orgs", timeout=2)


def test_paging_headers_and_links(server, api, district):
    total = len(district.enrollments)
    first = api.get(server.root_url + V1 + "/enrollments", params={"limit": 50})
    assert first.status_code == 200
    assert first.headers["X-Total-Count"] == str(total)
    assert first.headers["Content-Type"] == "application/json"
    assert len(first.json()["enrollments"]) == 50
    links = _links(first)
    assert set(links) == {"first", "next", "last"}
    assert "offset=50" in links["next"] and f"offset={(total - 1) // 50 * 50}" in links["last"]
    second = api.get(links["next"])
    assert "prev" in _links(second)
    seen, url = [], server.root_url + V1 + "/enrollments?limit=1000"
    while url:
        page = api.get(url)
        seen += [e["sourcedId"] for e in page.json()["enrollments"]]
        url = _links(page).get("next")
    assert seen == [e["sourcedId"] for e in district.enrollments]
    default = api.get(server.root_url + V1 + "/users").json()["users"]
    assert len(default) == 100
    beyond = api.get(server.root_url + V1 + "/users", params={"offset": 10**6})
    assert beyond.json() == {"users": []}
    capped = api.get(server.root_url + V1 + "/enrollments", params={"limit": 5000})
    assert len(capped.json()["enrollments"]) == 1000
    assert api.get(server.root_url + V1 + "/users", params={"limit": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("endpoint", "wrapper"),
    [
        ("orgs", "orgs"),
        ("schools", "orgs"),
        ("academicSessions", "academicSessions"),
        ("terms", "academicSessions"),
        ("courses", "courses"),
        ("classes", "classes"),
        ("users", "users"),
        ("students", "users"),
        ("teachers", "users"),
        ("enrollments", "enrollments"),
    ],
)
@pytest.mark.parametrize("base", [V1, V2])
def test_wrapper_keys(server, api, endpoint, wrapper, base):
    answer = api.get(server.root_url + base + "/" + endpoint, params={"limit": 3})
    assert answer.status_code == 200
    assert list(answer.json()) == [wrapper]
    assert answer.json()[wrapper]


def test_views_filter_their_records(server, api, district):
    schools = api.get(server.root_url + V1 + "/schools?limit=1000").json()["orgs"]
    assert [s["sourcedId"] for s in schools] == [s["sourcedId"] for s in district.schools]
    terms = api.get(server.root_url + V1 + "/terms").json()["academicSessions"]
    assert {t["type"] for t in terms} == {"term"}
    teachers = api.get(server.root_url + V1 + "/teachers?limit=1000").json()["users"]
    assert {t["role"] for t in teachers} == {"teacher"}


def test_user_shapes_per_version(server, api, district):
    v1 = api.get(server.root_url + V1 + "/users?limit=1000").json()["users"]
    v2 = api.get(server.root_url + V2 + "/users?limit=1000").json()["users"]
    assert [u["sourcedId"] for u in v1] == [u["sourcedId"] for u in v2]
    assert all(u["enabledUser"] in ("true", "false") and "role" in u and "orgs" in u for u in v1)
    assert all("roles" in u and "role" not in u and "orgs" not in u for u in v2)
    kinds = {type(u["enabledUser"]) for u in v2}
    assert kinds == {bool, str}  # real v1.2 servers mix both
    student = next(u for u in v2 if u["roles"] and u["roles"][0]["role"] == "student")
    assert student["roles"][0]["roleType"] == "primary"
    assert student["primaryOrg"]["sourcedId"] == student["roles"][0]["org"]["sourcedId"]
    assert student["primaryOrg"]["href"].startswith(server.root_url + V2 + "/orgs/")
    assert any(len(u["roles"]) == 2 and u["roles"][1]["roleType"] == "secondary" for u in v2)
    enrollment = api.get(server.root_url + V2 + "/enrollments?limit=1").json()["enrollments"][0]
    assert isinstance(enrollment["primary"], bool)
    enrollment = api.get(server.root_url + V1 + "/enrollments?limit=1").json()["enrollments"][0]
    assert enrollment["primary"] in ("true", "false")
    assert (
        enrollment["class"]["href"]
        == f"{server.root_url}{V1}/classes/{enrollment['class']['sourcedId']}"
    )
    html = next(u for u in district.users if "<script>" in u["givenName"] + u["familyName"])
    served = next(u for u in v1 if u["sourcedId"] == html["sourcedId"])
    assert served["givenName"] == html["givenName"] and served["familyName"] == html["familyName"]


def test_single_records(server, api, district):
    user = district.users[5]
    answer = api.get(f"{server.root_url}{V1}/users/{user['sourcedId']}")
    assert answer.json()["user"]["sourcedId"] == user["sourcedId"]
    school = district.schools[1]["sourcedId"]
    assert (
        api.get(f"{server.root_url}{V2}/schools/{school}").json()["org"]["name"]
        == "St. Mary's Académie"
    )
    cls = district.classes[0]["sourcedId"]
    assert api.get(f"{server.root_url}{V1}/classes/{cls}").json()["class"]["sourcedId"] == cls
    teacher = next(u for u in district.users if u["role"] == "teacher")
    assert api.get(f"{server.root_url}{V1}/students/{teacher['sourcedId']}").status_code == 404
    missing = api.get(f"{server.root_url}{V1}/users/nope")
    assert missing.status_code == 404
    body = missing.json()
    assert body["imsx_codeMajor"] == "failure" and body["imsx_severity"] == "error"
    assert (
        body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "unknownobject"
    )
    assert api.get(f"{server.root_url}{V1}/nothing").status_code == 404
    assert api.get(f"{server.root_url}/ims/oneroster/v9/users").status_code == 404


def test_per_school_collections(server, api, district):
    school = district.schools[0]["sourcedId"]
    for sub, wrapper in (
        ("classes", "classes"),
        ("enrollments", "enrollments"),
        ("students", "users"),
        ("teachers", "users"),
        ("courses", "courses"),
    ):
        answer = api.get(f"{server.root_url}{V1}/schools/{school}/{sub}?limit=1000")
        records = answer.json()[wrapper]
        assert records and int(answer.headers["X-Total-Count"]) == len(records)
        if sub in ("classes", "enrollments"):
            assert {r["school"]["sourcedId"] for r in records} == {school}
        if sub in ("students", "teachers"):
            assert all(school in [o["sourcedId"] for o in r["orgs"]] for r in records)
    expected = sum(e["school"]["sourcedId"] == school for e in district.enrollments)
    answer = api.get(f"{server.root_url}{V2}/schools/{school}/enrollments?limit=1")
    assert answer.headers["X-Total-Count"] == str(expected)
    assert api.get(f"{server.root_url}{V1}/schools/nope/classes").status_code == 404


def test_filters(server, api, district):
    school = district.schools[2]["sourcedId"]
    answer = api.get(
        server.root_url + V1 + "/enrollments",
        params={"filter": f"school.sourcedId='{school}'", "limit": 1000},
    )
    expected = [e["sourcedId"] for e in district.enrollments if e["school"]["sourcedId"] == school]
    assert [e["sourcedId"] for e in answer.json()["enrollments"]] == expected[:1000]
    assert answer.headers["X-Total-Count"] == str(len(expected))
    assert "filter=school.sourcedId" in _links(answer)["first"]
    stamps = sorted({u["dateLastModified"] for u in district.users})
    middle = stamps[len(stamps) // 2]
    newer = sum(u["dateLastModified"] > middle for u in district.users)
    for value in (middle, middle.replace(".000Z", "Z")):
        answer = api.get(
            server.root_url + V2 + "/users", params={"filter": f"dateLastModified>'{value}'"}
        )
        assert answer.headers["X-Total-Count"] == str(newer)
    both = api.get(
        server.root_url + V1 + "/users", params={"filter": "role='teacher' AND status='active'"}
    )
    assert int(both.headers["X-Total-Count"]) == sum(
        u["role"] == "teacher" and u["status"] == "active" for u in district.users
    )
    v2 = api.get(server.root_url + V2 + "/users", params={"filter": "roles.role='teacher'"})
    assert v2.headers["X-Total-Count"] == str(sum(u["role"] == "teacher" for u in district.users))
    bad = api.get(server.root_url + V1 + "/users", params={"filter": "shoeSize='9'"})
    assert bad.status_code == 400
    assert (
        bad.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "invalid_filter_field"
    )
    assert (
        api.get(server.root_url + V1 + "/users", params={"filter": "nonsense"}).status_code == 400
    )


def test_delta_filter_index_answers_what_a_scan_of_every_record_does():
    """``dateLastModified`` filters are answered from the district's index (built on
    write); whatever the view, school, operator or instant, the records are the ones
    the filter's own predicate picks from every record."""
    from datetime import UTC, datetime

    from sisapp.demo_sis import DistrictSpec, generate_district
    from sisapp.demo_sis.district import timestamp
    from sisapp.demo_sis.filters import compile_filter, modified_since
    from sisapp.demo_sis.snapshot import Snapshot

    mine = generate_district(DistrictSpec(schools=2, students=200, seed=5, today=TODAY))
    before = datetime.now(UTC)
    mine.apply_changes(0.05)
    stamp = next(u["dateLastModified"] for u in mine.users if u["dateLastModified"] >= timestamp(before))  # fmt: skip
    snap = Snapshot(mine, None)
    school = mine.schools[0]["sourcedId"]
    filters = [
        f"dateLastModified>'{timestamp(before)}'",
        f"dateLastModified>='{stamp}'",
        f"dateLastModified>'{stamp}'",  # a second after nothing: empty
        "dateLastModified>'2000-01-01T00:00:00Z'",  # everything stamped
        f"dateLastModified> '{before.strftime('%Y-%m-%dT%H:%M:%S')}'",  # naive means UTC
    ]
    assert all(modified_since(text) for text in filters)  # all answered from the index
    assert modified_since("dateLastModified>'2026-01-01T00:00:00Z' OR role='student'") is None
    checked = 0
    for collection, view, where in (
        ("enrollments", None, None), ("users", None, None), ("users", "student", None),
        ("classes", None, school), ("enrollments", None, school),
    ):  # fmt: skip
        records = mine.collection(collection)
        assert mine.modified_index(collection) is not None
        for text in filters:
            found = snap.view(collection, view, where, text)
            predicate = compile_filter(text, collection)
            base = Snapshot(mine, None).view(collection, view, where)
            assert found == [i for i in base if predicate(records[i])], (collection, view, where, text)  # fmt: skip
            checked += bool(found)
    assert snap.view("users", None, None, f"dateLastModified>'{stamp}'") == []
    assert checked >= 10  # most combinations select something
