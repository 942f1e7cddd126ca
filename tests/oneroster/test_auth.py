"""OAuth 1.0a signing and fallbacks; OAuth 2.0 tokens, client auth fallback and lifetimes."""

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

import pytest
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from sisapp.oneroster import ErrorCode, OneRosterError
from tests.helpers.oneroster import SECRET, TOKEN_URL, V11, V12, Collection, users


def pct(value: str) -> str:
    return quote(value, safe="~")


def expected_signature(method: str, url: str, oauth: dict, digest) -> str:
    """RFC 5849 section 3.4, written out independently of oauthlib."""
    parts = urlsplit(url)
    base_uri = f"{parts.scheme}://{parts.hostname}{parts.path}"
    params = parse_qsl(parts.query, keep_blank_values=True)
    params += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params))
    base = "&".join([method, pct(base_uri), pct(normalized)])
    key = pct(SECRET) + "&"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), digest).digest()).decode()


def oauth_params(request) -> dict:
    header = request.headers["Authorization"]
    pairs = parse_authorization_header(header.decode() if isinstance(header, bytes) else header)
    return {key: unquote(value) for key, value in pairs}


def test_oauth1_hmac_sha256_signature_verifies(make_client, requests_mock):
    requests_mock.get(V11 + "/classes", json=Collection(users(1), key="classes"))
    client = make_client()
    list(client.classes(school_id=None, since=datetime(2026, 1, 1)))
    request = requests_mock.request_history[0]
    oauth = oauth_params(request)
    assert oauth["oauth_signature_method"] == "HMAC-SHA256"
    assert oauth["oauth_consumer_key"] == "client-1"
    assert "%27" in request.url and "%3E" in request.url  # quotes and > signed as sent
    assert oauth["oauth_signature"] == expected_signature("GET", request.url, oauth, hashlib.sha256)
    assert client.auth_mode == "oauth1-hmac-sha256"


def test_oauth1_falls_back_to_sha1_and_remembers(make_client, requests_mock):
    def server(request, context):
        if oauth_params(request)["oauth_signature_method"] != "HMAC-SHA1":
            context.status_code = 401
            return {"imsx_codeMajor": "failure", "imsx_description": "unauthorized"}
        return {"users": users(10)} if "offset=0" in request.url else {"users": []}

    requests_mock.get(V11 + "/users", json=server)
    client = make_client(page_size=10)
    assert len(list(client.users())) == 10
    assert client.auth_mode == "oauth1-hmac-sha1"
    last = requests_mock.request_history[-1]
    oauth = oauth_params(last)
    assert oauth["oauth_signature_method"] == "HMAC-SHA1"
    assert oauth["oauth_signature"] == expected_signature("GET", last.url, oauth, hashlib.sha1)
    methods = [oauth_params(r)["oauth_signature_method"] for r in requests_mock.request_history]
    assert methods == ["HMAC-SHA256", "HMAC-SHA1", "HMAC-SHA1"]


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (
            {"imsx_codeMajor": "failure", "imsx_description": "Invalid timestamp"},
            {},
            ErrorCode.CLOCK_SKEW,
        ),
        ({}, {"WWW-Authenticate": 'OAuth problem="nonce_used"'}, ErrorCode.CLOCK_SKEW),
        ({"imsx_description": "Invalid signature"}, {}, ErrorCode.SIGNATURE_INVALID),
        ({"status": "success"}, {}, ErrorCode.BAD_CREDENTIALS),
    ],
)
def test_oauth1_unauthorized_codes(make_client, requests_mock, body, headers, code):
    requests_mock.get(V11 + "/users", status_code=401, json=body, headers=headers)
    client = make_client()
    with pytest.raises(OneRosterError) as info:
        list(client.users())
    assert info.value.code is code
    assert info.value.status == 401
    expected_calls = 1 if code is ErrorCode.CLOCK_SKEW else 2
    assert requests_mock.call_count == expected_calls
    assert client.auth_mode == "oauth1-hmac-sha256"
    if body.get("imsx_description"):
        assert body["imsx_description"] in str(info.value)


def test_oauth1_explicit_sha1_used_directly(make_client, requests_mock):
    requests_mock.get(V11 + "/users", json=Collection(users(2)))
    client = make_client(oauth1_signature="HMAC-SHA1")
    list(client.users())
    assert oauth_params(requests_mock.request_history[0])["oauth_signature_method"] == "HMAC-SHA1"
    assert client.auth_mode == "oauth1-hmac-sha1"


# --- OAuth 2.0 ---------------------------------------------------------------------------


def token_body(token="tok-1", expires_in=3600):
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


def form(request) -> dict:
    return {k: v[0] for k, v in parse_qs(request.text or "").items()}


def basic_header():
    return "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()


def test_oauth2_basic_auth_and_scopes(make_client, requests_mock):
    token = requests_mock.post(TOKEN_URL, json=token_body())
    data = requests_mock.get(V11 + "/users", json=Collection(users(3)))
    client = make_client(token_url=TOKEN_URL)
    assert len(list(client.users())) == 3
    assert client.auth_mode == "oauth2"
    sent = token.last_request
    assert sent.headers["Authorization"] == basic_header()
    body = form(sent)
    assert body["grant_type"] == "client_credentials"
    assert body["scope"].split() == [
        "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly",
        "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly",
    ]
    assert "client_secret" not in body
    assert data.last_request.headers["Authorization"] == "Bearer tok-1"


def test_oauth2_scopes_override(make_client, requests_mock):
    token = requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(V11 + "/users", json=Collection(users(1)))
    list(make_client(token_url=TOKEN_URL, scopes=["custom.read"]).users())
    assert form(token.last_request)["scope"] == "custom.read"


def test_oauth2_form_fallback_on_invalid_client(make_client, requests_mock, clock):
    def token_server(request, context):
        if "Authorization" in request.headers:
            context.status_code = 401
            return {"error": "invalid_client"}
        body = form(request)
        assert body["client_id"] == "client-1" and body["client_secret"] == SECRET
        return token_body(expires_in=100)

    token = requests_mock.post(TOKEN_URL, json=token_server)
    requests_mock.get(V11 + "/users", json=Collection(users(3)))
    client = make_client(token_url=TOKEN_URL)
    list(client.users())
    assert token.call_count == 2
    clock.now += 1000  # expired: the next fetch goes straight to form auth
    list(client.users())
    assert token.call_count == 3


def test_oauth2_token_reused_then_refetched_before_expiry(make_client, requests_mock, clock):
    token = requests_mock.post(
        TOKEN_URL, [{"json": token_body("tok-1", "3600")}, {"json": token_body("tok-2", "3600")}]
    )
    data = requests_mock.get(V11 + "/users", json=Collection(users(25)))  # the last page short
    client = make_client(token_url=TOKEN_URL, page_size=10)
    list(client.users())
    list(client.users())
    assert token.call_count == 1  # reused, expires_in as a string works
    clock.now += 3600 - 59  # within 60 s of expiry: fetch a new one first
    list(client.users())
    assert token.call_count == 2
    assert data.last_request.headers["Authorization"] == "Bearer tok-2"
    assert data.call_count == 9  # no 401 and retry was needed


def test_oauth2_token_expiring_mid_read(make_client, requests_mock, logs):
    requests_mock.post(TOKEN_URL, [{"json": token_body("tok-1")}, {"json": token_body("tok-2")}])
    rows = users(30)

    def server(request, context):
        if request.headers["Authorization"] == "Bearer tok-1" and "offset=10" in request.url:
            context.status_code = 401
            return {"imsx_codeMajor": "failure", "imsx_description": "token expired"}
        offset = int(request.qs["offset"][0])
        context.headers["X-Total-Count"] = "30"
        return {"users": rows[offset : offset + 10]}

    requests_mock.get(V11 + "/users", json=server)
    client = make_client(token_url=TOKEN_URL, page_size=10)
    assert len(list(client.users())) == 30
    assert client.auth.tokens_fetched == 2
    assert any("fetching a new token" in line for line in logs)


def test_oauth2_still_401_after_new_token(make_client, requests_mock):
    token = requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(V11 + "/users", status_code=401, text="nope")
    with pytest.raises(OneRosterError) as info:
        list(make_client(token_url=TOKEN_URL).users())
    assert info.value.code is ErrorCode.BAD_CREDENTIALS
    assert token.call_count == 2


@pytest.mark.parametrize(
    ("responses", "code"),
    [
        (
            [{"status_code": 401, "json": {"error": "invalid_client"}}] * 2,
            ErrorCode.BAD_CREDENTIALS,
        ),
        (
            [{"status_code": 400, "json": {"error": "unauthorized_client"}}] * 2,
            ErrorCode.BAD_CREDENTIALS,
        ),
        ([{"status_code": 404, "text": "not found"}], ErrorCode.TOKEN_URL_FAILED),
        ([{"status_code": 200, "text": "<html>login</html>"}], ErrorCode.TOKEN_URL_FAILED),
        ([{"status_code": 200, "json": {"token_type": "Bearer"}}], ErrorCode.TOKEN_URL_FAILED),
        (
            [{"status_code": 400, "json": {"error": "unsupported_grant_type"}}],
            ErrorCode.TOKEN_URL_FAILED,
        ),
        ([{"status_code": 503}] * 7, ErrorCode.TOKEN_URL_FAILED),
        ([{"status_code": 400, "json": {"error": "invalid_scope"}}] * 3, ErrorCode.FORBIDDEN_SCOPE),
    ],
)
def test_oauth2_token_url_failures(make_client, requests_mock, responses, code):
    requests_mock.post(TOKEN_URL, responses)
    requests_mock.get(V11 + "/users", json=Collection(users(1)))
    with pytest.raises(OneRosterError) as info:
        list(make_client(token_url=TOKEN_URL).users())
    assert info.value.code is code
    assert info.value.path == "/oauth/access_token"
    assert SECRET not in str(info.value)


def test_oauth2_token_url_connection_error(make_client, requests_mock):
    import requests

    requests_mock.post(TOKEN_URL, exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(OneRosterError) as info:
        list(make_client(token_url=TOKEN_URL, max_retries=1).users())
    assert info.value.code is ErrorCode.TOKEN_URL_FAILED


def test_oauth2_scope_fallback(make_client, requests_mock):
    token = requests_mock.post(
        TOKEN_URL,
        [{"status_code": 400, "json": {"error": "invalid_scope"}}, {"json": token_body()}],
    )
    requests_mock.get(V12 + "/users", json=Collection(users(1)))
    list(make_client(endpoint_url=V12, token_url=TOKEN_URL).users())
    scopes = [form(r).get("scope") for r in token.request_history]
    assert scopes == [
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly "
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly",
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly",
    ]


def test_token_never_in_error_text(make_client, requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body("sekrit-token-value"))
    requests_mock.get(
        V11 + "/users",
        status_code=403,
        json={
            "imsx_description": "token sekrit-token-value lacks scope; Authorization: Bearer sekrit-token-value"
        },
    )
    with pytest.raises(OneRosterError) as info:
        list(make_client(token_url=TOKEN_URL).users())
    assert info.value.code is ErrorCode.FORBIDDEN_SCOPE
    assert "sekrit-token-value" not in str(info.value) + str(info.value.as_dict())
