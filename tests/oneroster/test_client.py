"""Version discovery, per-school reads and fallbacks, cancellation, check() and secrets."""

from datetime import datetime

import pytest
import requests

from sisapp.oneroster import ConnectionCheck, ErrorCode, OneRosterError
from tests.helpers.oneroster import ROOT, SECRET, TOKEN_URL, V11, V12, Collection, query, users

ORGS = {"orgs": [{"sourcedId": "s1", "name": "North High", "type": "school", "status": "active"}]}


def test_discovery_prefers_v12(make_client, requests_mock):
    requests_mock.get(V12 + "/orgs", json=ORGS)
    v11 = requests_mock.get(V11 + "/orgs", json=ORGS)
    client = make_client(endpoint_url=ROOT + "/")
    assert client.version == "v1p2"
    assert client.base_url == V12
    assert v11.call_count == 0


def test_discovery_falls_back_to_v11_under_prefix(make_client, requests_mock, logs):
    prefix = ROOT + "/district"
    v12 = requests_mock.get(prefix + "/ims/oneroster/rostering/v1p2/orgs", status_code=404)
    requests_mock.get(prefix + "/ims/oneroster/v1p1/orgs", json=ORGS)
    requests_mock.get(
        prefix + "/ims/oneroster/v1p1/schools", json=Collection([ORGS["orgs"][0]], key="orgs")
    )
    client = make_client(endpoint_url=prefix)
    assert [s.name for s in client.schools()] == ["North High"]
    assert client.version == "v1p1"
    assert query(v12.last_request) == {"limit": "1"}


def test_discovery_html_on_both_is_not_oneroster(make_client, requests_mock):
    requests_mock.get(
        V12 + "/orgs", text="<html>Welcome</html>", headers={"Content-Type": "text/html"}
    )
    requests_mock.get(V11 + "/orgs", status_code=404)
    result = make_client(endpoint_url=ROOT).check()
    assert result.ok is False and result.error_code == ErrorCode.NOT_ONEROSTER.value
    assert "rostering/v1p2" in result.message


def test_discovery_auth_error_is_not_masked(make_client, requests_mock):
    requests_mock.get(V12 + "/orgs", status_code=401, json={"imsx_description": "bad key"})
    with pytest.raises(OneRosterError) as info:
        _ = make_client(endpoint_url=ROOT).version
    assert info.value.code is ErrorCode.BAD_CREDENTIALS


@pytest.mark.parametrize(
    ("url", "version", "base"),
    [(V11, "v1p1", V11), (V12 + "/", "v1p2", V12), (V11 + "/users", "v1p1", V11)],
)
def test_explicit_base_needs_no_probe(make_client, requests_mock, url, version, base):
    client = make_client(endpoint_url=url)
    assert client.version == version and client.base_url == base
    assert requests_mock.call_count == 0


def test_remembered_version_from_settings(make_client, requests_mock):
    client = make_client(endpoint_url=ROOT, version="v1p1")
    assert client.base_url == V11 and requests_mock.call_count == 0


def test_v12_discovery_with_oauth2_scopes(make_client, requests_mock):
    token = requests_mock.post(TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    requests_mock.get(V12 + "/orgs", status_code=404)
    requests_mock.get(V11 + "/orgs", json=ORGS)
    client = make_client(endpoint_url=ROOT, token_url=TOKEN_URL)
    assert client.version == "v1p1"
    scopes = [r.text for r in token.request_history]
    assert "v1p2" in scopes[0] and "v1p1" in scopes[-1]


# --- per school ------------------------------------------------------------------------


def test_per_school_nested_endpoints(make_client, requests_mock):
    classes = requests_mock.get(
        V11 + "/schools/s1/classes", json=Collection(users(3, "c"), key="classes")
    )
    requests_mock.get(
        V11 + "/schools/s1/enrollments", json=Collection(users(4, "e"), key="enrollments")
    )
    requests_mock.get(V11 + "/schools/s1/courses", json=Collection(users(2, "k"), key="courses"))
    client = make_client()
    assert len(list(client.classes(school_id="s1", since=datetime(2026, 1, 1)))) == 3
    assert query(classes.last_request)["filter"] == "dateLastModified>'2026-01-01T00:00:00Z'"
    assert len(list(client.enrollments(school_id="s1"))) == 4
    assert len(list(client.courses(school_id="s1"))) == 2


def test_per_school_404_falls_back_to_filter_and_remembers(make_client, requests_mock):
    nested = requests_mock.get(V11 + "/schools/s1/classes", status_code=404)
    requests_mock.get(V11 + "/schools/s2/classes", status_code=404)
    top = requests_mock.get(V11 + "/classes", json=Collection(users(2, "c"), key="classes"))
    client = make_client()
    assert len(list(client.classes(school_id="s1", since=datetime(2026, 1, 1)))) == 2
    assert query(top.last_request)["filter"] == (
        "school.sourcedId='s1' AND dateLastModified>'2026-01-01T00:00:00Z'"
    )
    list(client.classes(school_id="s2"))
    assert nested.call_count == 1  # remembered: s2 went straight to the filter
    assert query(top.last_request)["filter"] == "school.sourcedId='s2'"


def test_per_school_users_nested_and_fallback(make_client, requests_mock):
    requests_mock.get(V11 + "/schools/s1/students", json=Collection(users(3, "st")))
    requests_mock.get(
        V11 + "/schools/s1/teachers", json=Collection(users(2, "te") + users(1, "st"))
    )
    client = make_client()
    assert len(list(client.users(school_id="s1"))) == 5  # deduplicated

    requests_mock.get(V11 + "/schools/s2/students", status_code=404)
    everyone = [
        {"sourcedId": "a", "role": "student", "orgs": [{"sourcedId": "s2"}]},
        {"sourcedId": "b", "role": "teacher", "orgs": [{"sourcedId": "s3"}]},
        {
            "sourcedId": "c",
            "roles": [{"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s2"}}],
        },
        {"sourcedId": "p", "role": "parent"},
    ]
    requests_mock.get(V11 + "/users", json=Collection(everyone))
    assert [u.sourced_id for u in client.users(school_id="s2")] == ["a", "c"]
    assert [u.sourced_id for u in client.users()] == ["a", "b", "c", "p"]  # parents too


def test_per_school_failure_is_school_read_failed(make_client, requests_mock):
    requests_mock.get(V11 + "/schools/s9/enrollments", [{"status_code": 500}] * 3)
    with pytest.raises(OneRosterError) as info:
        list(make_client(max_retries=2).enrollments(school_id="s9"))
    error = info.value
    assert error.code is ErrorCode.SCHOOL_READ_FAILED
    assert error.cause_code is ErrorCode.SERVER_ERROR and error.school_id == "s9"
    assert "s9" in str(error) and ErrorCode.SERVER_ERROR.value in str(error)


def test_malformed_record_in_school_read(make_client, requests_mock):
    requests_mock.get(V11 + "/schools/s1/classes", json={"classes": [{"title": "no id"}]})
    with pytest.raises(OneRosterError) as info:
        list(make_client().classes(school_id="s1"))
    assert info.value.code is ErrorCode.SCHOOL_READ_FAILED
    assert info.value.cause_code is ErrorCode.MALFORMED_PAGE


@pytest.mark.parametrize("concurrency", [1, 3])
def test_should_stop_cancels_between_pages(make_client, requests_mock, concurrency):
    requests_mock.get(V11 + "/users", json=Collection(users(100)))
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 3

    client = make_client(should_stop=should_stop, page_size=10, concurrency=concurrency)
    seen = []
    with pytest.raises(OneRosterError) as info:
        for user in client.users():
            seen.append(user)
    assert info.value.code is ErrorCode.CANCELLED
    assert 0 < len(seen) < 100


def test_cancel_is_not_wrapped_as_school_failure(make_client, requests_mock):
    requests_mock.get(V11 + "/schools/s1/classes", json=Collection(users(30, "c"), key="classes"))
    client = make_client(should_stop=lambda: True)
    with pytest.raises(OneRosterError) as info:
        list(client.classes(school_id="s1"))
    assert info.value.code is ErrorCode.CANCELLED


def test_academic_sessions_since(make_client, requests_mock):
    sessions = requests_mock.get(
        V11 + "/academicSessions",
        json=Collection(
            [{"sourcedId": "t1", "type": "term", "startDate": "2025-09-01"}], key="academicSessions"
        ),
    )
    result = list(make_client().academic_sessions(since=datetime(2026, 3, 1, 12, 30)))
    assert result[0].type == "term"
    assert query(sessions.last_request)["filter"] == "dateLastModified>'2026-03-01T12:30:00Z'"


# --- check() ---------------------------------------------------------------------------


def test_check_ok(make_client, requests_mock):
    requests_mock.get(V12 + "/orgs", json=ORGS)
    schools = [{**ORGS["orgs"][0], "sourcedId": f"s{i}"} for i in range(12)]
    requests_mock.get(V12 + "/schools", json=Collection(schools, key="orgs"))
    result = make_client(endpoint_url=ROOT).check()
    assert isinstance(result, ConnectionCheck)
    assert result.as_dict() == {
        "ok": True,
        "version": "v1p2",
        "auth": "oauth1-hmac-sha256",
        "schools": 12,
        "error_code": None,
        "message": result.message,
    }


def test_check_never_raises(make_client, requests_mock):
    requests_mock.get(V11 + "/schools", exc=requests.exceptions.ConnectionError("refused"))
    result = make_client(max_retries=6).check()
    assert result.ok is False and result.error_code == ErrorCode.UNREACHABLE.value
    assert requests_mock.call_count == 3  # the check retries less than a sync


def test_check_invalid_settings(make_client):
    result = make_client(client_id="").check()
    assert result.ok is False and result.error_code == ErrorCode.INVALID_SETTINGS.value


@pytest.mark.parametrize(
    "response",
    [
        {"status_code": 401, "text": f"bad secret {SECRET}"},
        {
            "status_code": 400,
            "json": {"imsx_description": f"oauth_signature=abc123 secret={SECRET}"},
        },
        {"status_code": 500, "text": f"Authorization: OAuth oauth_signature=xyz {SECRET}"},
    ],
)
def test_secret_never_in_error_text(make_client, requests_mock, logs, response):
    requests_mock.get(V11 + "/users", **response)
    with pytest.raises(OneRosterError) as info:
        list(make_client(max_retries=1).users())
    text = " ".join([str(info.value), repr(info.value), str(info.value.as_dict()), *logs])
    assert SECRET not in text
    assert "abc123" not in text and "xyz" not in text
    result = make_client(max_retries=1).check()
    assert SECRET not in str(result.as_dict())


def test_secret_not_in_settings_repr():
    from sisapp.oneroster import ConnectionSettings

    assert SECRET not in repr(ConnectionSettings(V11, "id", SECRET))
