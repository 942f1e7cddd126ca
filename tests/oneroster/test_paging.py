"""Paging styles, wrapper keys and concurrency, through the public client."""

import re

import pytest

from sisapp.oneroster import ErrorCode, OneRosterError
from tests.helpers.oneroster import V11, Collection, users

USERS = V11 + "/users"


def ids(records):
    return [record.sourced_id for record in records]


def test_total_count_paging(make_client, requests_mock):
    server = Collection(users(250))
    requests_mock.get(USERS, json=server)
    client = make_client(page_size=100)
    assert ids(client.users()) == [f"u{i:04d}" for i in range(250)]
    assert [q["offset"] for q in server.requests] == ["0", "100", "200"]
    assert client.pages_read == 3 and client.records_read == 250


def test_link_next_only(make_client, requests_mock):
    server = Collection(users(25), total=False, links=True)
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10).users())) == 25
    assert len(server.requests) == 3


def test_short_pages_with_total_are_not_the_end(make_client, requests_mock):
    """A server that caps pages at 30 while we ask 100: keep going by what came back."""
    server = Collection(users(95), cap=30)
    requests_mock.get(USERS, json=server)
    assert ids(make_client(page_size=100).users()) == [f"u{i:04d}" for i in range(95)]
    assert [q["offset"] for q in server.requests] == ["0", "30", "60", "90"]


def test_capped_page_size_concurrent(make_client, requests_mock):
    server = Collection(users(95), cap=30)
    requests_mock.get(USERS, json=server)
    client = make_client(page_size=100, concurrency=3)
    assert ids(client.users()) == [f"u{i:04d}" for i in range(95)]
    assert sorted(int(q["offset"]) for q in server.requests) == [0, 30, 60, 90]
    assert all(q["limit"] == "30" for q in server.requests[1:])


def test_next_link_wins_over_smaller_total(make_client, requests_mock):
    server = Collection(users(30), links=True, total_value=10)
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10).users())) == 30


def test_missing_next_link_wins_over_larger_total(make_client, requests_mock):
    server = Collection(users(20), links=True, total_value=500)
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10, concurrency=4).users())) == 20


def test_no_total_no_links_ends_on_empty_page(make_client, requests_mock):
    server = Collection(users(25), total=False)
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10).users())) == 25
    assert [q["offset"] for q in server.requests] == ["0", "10", "20", "25"]


def test_no_signals_short_page_probes_once_more(make_client, requests_mock):
    """A short page without total or link could be a silent cap: one more request decides."""
    server = Collection(users(7), total=False)
    requests_mock.get(USERS, json=server)
    assert len(list(make_client(page_size=10).users())) == 7
    assert [q["offset"] for q in server.requests] == ["0", "7"]


def test_offset_ignored_single_page_is_fine(make_client, requests_mock):
    requests_mock.get(USERS, json=Collection(users(7), total=False, ignore_offset=True))
    assert len(list(make_client(page_size=10).users())) == 7


@pytest.mark.parametrize("concurrency", [1, 4])
def test_offset_ignored_is_paging_stuck(make_client, requests_mock, concurrency):
    requests_mock.get(USERS, json=Collection(users(50), ignore_offset=True))
    with pytest.raises(OneRosterError) as info:
        list(make_client(page_size=10, concurrency=concurrency).users())
    assert info.value.code is ErrorCode.PAGING_STUCK
    assert info.value.path == "/ims/oneroster/v1p1/users"


def test_offset_ignored_without_total_is_stuck(make_client, requests_mock):
    requests_mock.get(USERS, json=Collection(users(50), total=False, ignore_offset=True))
    with pytest.raises(OneRosterError) as info:
        list(make_client(page_size=10).users())
    assert info.value.code is ErrorCode.PAGING_STUCK


def test_concurrent_same_order_as_serial(make_client, requests_mock):
    rows = users(1003)
    requests_mock.get(USERS, json=Collection(rows))
    serial = ids(make_client(page_size=50, concurrency=1).users())
    concurrent_client = make_client(page_size=50, concurrency=4)
    concurrent = ids(concurrent_client.users())
    assert serial == concurrent == [row["sourcedId"] for row in rows]
    assert concurrent_client.pages_read == 21


def test_concurrent_short_page_in_the_middle_is_filled(make_client, requests_mock):
    rows = users(40)

    def server(request, context):
        params = dict(p.split("=") for p in request.url.split("?")[1].split("&"))
        limit, offset = int(params["limit"]), int(params["offset"])
        context.headers["X-Total-Count"] = "40"
        if offset == 10 and limit == 10:
            limit = 4  # the server hiccups: a short page in the middle
        return {"users": rows[offset : offset + limit]}

    requests_mock.get(USERS, json=server)
    assert ids(make_client(page_size=10, concurrency=3).users()) == [r["sourcedId"] for r in rows]


def test_concurrent_bounded_in_flight(make_client, requests_mock):
    requests_mock.get(USERS, json=Collection(users(500)))
    client = make_client(page_size=10, concurrency=2)
    iterator = client.users()
    for _ in range(15):  # into the second page: the pool is running
        next(iterator)
    assert requests_mock.call_count <= 1 + 1 + 2 * 2
    iterator.close()
    assert requests_mock.call_count < 50


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/users", "users"),
        ("/schools", "orgs"),
        ("/schools", "schools"),
        ("/academicSessions", "academicSessions"),
        ("/users", "data"),
    ],
)
def test_wrapper_keys(make_client, requests_mock, path, key):
    requests_mock.get(V11 + path, json=Collection(users(3), key=key))
    client = make_client()
    method = {
        "/users": client.users,
        "/schools": client.schools,
        "/academicSessions": client.academic_sessions,
    }[path]
    assert len(list(method())) == 3


def test_students_answer_under_users(make_client, requests_mock):
    requests_mock.get(V11 + "/schools/s1/students", json=Collection(users(3), key="users"))
    requests_mock.get(V11 + "/schools/s1/teachers", json=Collection(users(2, "t"), key="users"))
    assert len(list(make_client().users(school_id="s1"))) == 5


def test_bare_array(make_client, requests_mock):
    requests_mock.get(USERS, json=Collection(users(3), bare=True, total=False))
    assert len(list(make_client().users())) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"statusInfoSet": [{"imsx_codeMajor": "failure"}]},
        {"a": [], "b": []},
        {"users": "x"},
        "text",
    ],
)
def test_missing_collection_is_malformed(make_client, requests_mock, body):
    requests_mock.get(USERS, json=body)
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is ErrorCode.MALFORMED_PAGE


def test_next_link_to_other_host_refused(make_client, requests_mock):
    requests_mock.get(
        USERS,
        json={"users": users(2)},
        headers={"Link": '<https://evil.example.net/users?offset=2>; rel="next"'},
    )
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is ErrorCode.URL_NOT_ALLOWED


def test_filters_are_signed_query_with_percent_20(make_client, requests_mock):
    from datetime import datetime, timedelta, timezone

    server = Collection(users(1), key="classes")
    requests_mock.get(V11 + "/classes", json=server)
    since = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    list(make_client().classes(since=since))
    sent = requests_mock.request_history[0].url
    assert "filter=dateLastModified%3E%272026-01-01T00%3A00%3A00Z%27" in sent
    assert "+" not in sent.split("?")[1]
    assert re.search(r"limit=100&offset=0", sent)
