"""Retries, backoff, Retry-After, timeouts, redirects and HTTP error mapping."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from sisapp.oneroster import ErrorCode, OneRosterError
from tests.helpers.oneroster import SECRET, V11, Collection, users

USERS = V11 + "/users"
OK = {"json": {"users": users(2)}, "headers": {"X-Total-Count": "2"}}


@pytest.mark.parametrize(
    "failure",
    [
        {"exc": requests.exceptions.ConnectionError("connection refused")},
        {"exc": requests.exceptions.ReadTimeout("read timed out")},
        {"exc": requests.exceptions.ConnectTimeout("connect timed out")},
        {"status_code": 500, "text": "oops"},
        {"status_code": 502, "text": "bad gateway"},
        {"status_code": 503, "json": {"imsx_codeMajor": "failure"}},
        {"status_code": 429, "text": "slow down"},
    ],
)
def test_transient_failure_then_success(make_client, requests_mock, logs, sleeps, failure):
    requests_mock.get(USERS, [failure, failure, OK])
    client = make_client()
    assert len(list(client.users())) == 2
    assert client.retries == 2
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter under base * 2**n
    retry_logs = [line for line in logs if line.startswith("retry")]
    assert len(retry_logs) == 2 and "/ims/oneroster/v1p1/users" in retry_logs[0]
    assert SECRET not in " ".join(logs) and "oauth_signature" not in " ".join(logs)


def test_retry_after_seconds(make_client, requests_mock, sleeps):
    requests_mock.get(USERS, [{"status_code": 429, "headers": {"Retry-After": "7"}}, OK])
    list(make_client().users())
    assert sleeps == [7.0]


def test_retry_after_http_date(make_client, requests_mock, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    requests_mock.get(USERS, [{"status_code": 503, "headers": {"Retry-After": when}}, OK])
    list(make_client().users())
    assert 17 <= sleeps[0] <= 20


def test_retry_after_capped_at_backoff_max(make_client, requests_mock, sleeps):
    requests_mock.get(USERS, [{"status_code": 429, "headers": {"Retry-After": "3600"}}, OK])
    list(make_client(backoff_max=30).users())
    assert sleeps == [30.0]


@pytest.mark.parametrize(
    ("failure", "code", "status"),
    [
        (
            {"exc": requests.exceptions.ConnectionError("Name or service not known")},
            ErrorCode.UNREACHABLE,
            None,
        ),
        ({"exc": requests.exceptions.ReadTimeout("read timed out")}, ErrorCode.TIMEOUT, None),
        (
            {
                "status_code": 503,
                "json": {"imsx_codeMajor": "failure", "imsx_description": "maintenance"},
            },
            ErrorCode.SERVER_ERROR,
            503,
        ),
        ({"status_code": 429}, ErrorCode.RATE_LIMITED, 429),
    ],
)
def test_retries_exhausted(make_client, requests_mock, sleeps, failure, code, status):
    requests_mock.get(USERS, [failure] * 10)
    client = make_client(max_retries=3, failed_page_passes=0)  # the per-request cap alone
    with pytest.raises(OneRosterError) as info:
        list(client.users())
    assert info.value.code is code
    assert info.value.status == status
    assert info.value.path == "/ims/oneroster/v1p1/users"
    assert client.retries == 3 and requests_mock.call_count == 4
    if status == 503:
        assert "maintenance" in str(info.value)


def test_retry_budget_stops_early(make_client, requests_mock, sleeps):
    requests_mock.get(USERS, [{"status_code": 429, "headers": {"Retry-After": "30"}}] * 10)
    with pytest.raises(OneRosterError) as info:
        list(make_client(retry_budget_seconds=70, max_retries=6, failed_page_passes=0).users())
    assert info.value.code is ErrorCode.RATE_LIMITED
    assert sleeps == [30.0, 30.0]


def test_timeouts_always_set(make_client, requests_mock):
    requests_mock.get(USERS, **OK)
    list(make_client(connect_timeout=3, read_timeout=9).users())
    assert requests_mock.request_history[0].timeout == (3, 9)


def test_tls_error_not_retried(make_client, requests_mock):
    requests_mock.get(USERS, exc=requests.exceptions.SSLError("certificate verify failed"))
    client = make_client()
    with pytest.raises(OneRosterError) as info:
        list(client.users())
    assert info.value.code is ErrorCode.TLS_ERROR and client.retries == 0


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (
            {
                "status_code": 403,
                "json": {"imsx_codeMajor": "failure", "imsx_description": "insufficient_scope"},
            },
            ErrorCode.FORBIDDEN_SCOPE,
        ),
        (
            {
                "status_code": 400,
                "json": {
                    "imsx_statusInfo": {
                        "imsx_codeMajor": "failure",
                        "imsx_CodeMinor": {
                            "imsx_codeMinorField": [
                                {"imsx_codeMinorFieldValue": "invalid_filter_field"}
                            ]
                        },
                    }
                },
            },
            ErrorCode.REQUEST_REJECTED,
        ),
        ({"status_code": 404, "text": "not here"}, ErrorCode.ENDPOINT_NOT_FOUND),
        (
            {
                "status_code": 200,
                "text": "<!doctype html><html>Login</html>",
                "headers": {"Content-Type": "text/html"},
            },
            ErrorCode.NOT_ONEROSTER,
        ),
        ({"status_code": 200, "text": "{not json"}, ErrorCode.MALFORMED_PAGE),
    ],
)
def test_http_error_mapping(make_client, requests_mock, response, code):
    requests_mock.get(USERS, **response)
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is code
    assert info.value.path == "/ims/oneroster/v1p1/users"
    text = str(info.value)
    assert text.startswith(code.value + ": ")
    if response["status_code"] != 200:
        assert f"(HTTP {response['status_code']} at /ims/oneroster/v1p1/users)" in text


def test_imsx_quoted_from_status_info_set(make_client, requests_mock):
    requests_mock.get(
        USERS,
        status_code=400,
        json={
            "statusInfoSet": [
                {
                    "imsx_codeMajor": "failure",
                    "imsx_severity": "error",
                    "imsx_description": "Unknown field: foo",
                }
            ]
        },
    )
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert "imsx_codeMajor=failure" in str(info.value)
    assert "Unknown field: foo" in str(info.value)


def test_same_host_redirect_followed(make_client, requests_mock):
    requests_mock.get(USERS, status_code=301, headers={"Location": V11 + "/users/"})
    requests_mock.get(V11 + "/users/", json=Collection(users(2)))
    assert len(list(make_client().users())) == 2


def test_cross_host_redirect_refused(make_client, requests_mock):
    requests_mock.get(USERS, status_code=302, headers={"Location": "https://other.example.net/x"})
    with pytest.raises(OneRosterError) as info:
        list(make_client().users())
    assert info.value.code is ErrorCode.URL_NOT_ALLOWED
