"""Sign-in hardening: failed sign-ins are throttled per account and per address (in the
real Redis), and signing out or a new password ends every session captured before."""

import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import redis

from sisapp import create_app
from sisapp.extensions import db
from tests.helpers.app import PASSWORD, TEST_REDIS_URL, csrf_from, make_admin, test_config

WRONG = "not-the-password-9Xq"


@pytest.fixture
def prefix():
    """Counters of this test alone: locking an account here must not lock other tests out."""
    return f"sisapp-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def web(app, prefix):
    """The app as a web process runs it: every request in an app context (and `g`) of its
    own, which the `app` fixture's long-lived context would otherwise share."""
    web = create_app(
        test_config(app.config["SQLALCHEMY_DATABASE_URI"], RATELIMIT_KEY_PREFIX=prefix)
    )
    yield web
    with web.app_context():
        db.engine.dispose()


def _client(web, address: str = "10.0.0.1"):
    client = web.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _sign_in(client, email: str, password: str = PASSWORD, remember: bool = False):
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    data = {"email": email, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def _signed_in(client) -> bool:
    return client.get("/sis-integration/").status_code == 200


# --- throttling -----------------------------------------------------------------------------


def test_the_sixth_wrong_password_is_refused_and_then_the_right_one_too(web, admin, caplog):
    caplog.set_level(logging.INFO)
    client = _client(web)
    for _ in range(5):
        response = _sign_in(client, admin.email, WRONG)
        assert response.status_code == 200
        assert "Email or password is not right." in response.get_data(as_text=True)
    refused = _sign_in(client, admin.email, WRONG)
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many failed sign-ins. Try again in 1 minute." in page
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert 'name="email"' in page  # the sign-in page again, not a bare error

    right = _sign_in(_client(web, "10.0.0.9"), admin.email)  # even from elsewhere
    assert right.status_code == 429
    assert not _signed_in(client)

    lockouts = [r for r in caplog.records if "too many failed sign-ins" in r.getMessage()]
    assert lockouts and admin.email in lockouts[0].getMessage()
    assert all(
        WRONG not in r.getMessage() and PASSWORD not in r.getMessage() for r in caplog.records
    )


def test_a_locked_account_leaves_other_accounts_alone(web, admin, other_admin):
    client = _client(web)
    for _ in range(6):
        _sign_in(client, admin.email, WRONG)
    assert _sign_in(client, admin.email).status_code == 429
    assert _sign_in(client, other_admin.email).status_code == 302  # same address
    assert _signed_in(client)


def test_an_address_with_many_failures_is_refused_and_others_are_not(web, device, admin):
    guesser = _client(web, "10.0.0.66")
    accounts = [make_admin(device, f"guess{i}@northside.example").email for i in range(5)]
    for i in range(20):  # four per account: no account's own limit is reached
        assert _sign_in(guesser, accounts[i % 5], WRONG).status_code == 200
    assert _sign_in(guesser, admin.email).status_code == 429
    colleague = _client(web, "10.0.0.67")
    assert _sign_in(colleague, admin.email).status_code == 302
    assert _signed_in(colleague)


def test_behind_a_trusted_proxy_each_forwarded_address_counts_apart(app, device, admin, prefix):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    proxied = create_app(test_config(uri, RATELIMIT_KEY_PREFIX=prefix, TRUSTED_PROXIES=1))
    guesser, colleague = _client(proxied, "10.0.0.1"), _client(proxied, "10.0.0.1")
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    colleague.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.4"
    accounts = [make_admin(device, f"guess{i}@northside.example").email for i in range(5)]
    for i in range(20):
        _sign_in(guesser, accounts[i % 5], WRONG)
    assert _sign_in(guesser, admin.email).status_code == 429
    assert _sign_in(colleague, admin.email).status_code == 302  # same proxy, other client
    with proxied.app_context():
        db.engine.dispose()


def test_sign_in_works_and_is_still_throttled_while_redis_is_down(app, admin, prefix, caplog):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    down = create_app(
        test_config(uri, RATELIMIT_KEY_PREFIX=prefix, REDIS_URL="redis://127.0.0.1:9/0")
    )
    client = _client(down)
    for _ in range(5):
        assert _sign_in(client, admin.email, WRONG).status_code == 200
    assert _sign_in(client, admin.email, WRONG).status_code == 429  # counted in memory
    assert _sign_in(_client(down), "other@northside.example", WRONG).status_code == 200
    assert "storage unreachable" in caplog.text
    with down.app_context():
        db.engine.dispose()


def test_successful_sign_ins_never_count(web, admin):
    for _ in range(30):
        assert _sign_in(_client(web), admin.email).status_code == 302
    client = _client(web)
    for _ in range(5):
        assert _sign_in(client, admin.email, WRONG).status_code == 200
    assert _sign_in(client, admin.email, WRONG).status_code == 429


def test_counters_live_in_redis_under_each_apps_prefix(web, admin, prefix):
    """Web processes share the counters; test sessions (each its own prefix) do not."""
    client = _client(web)
    for _ in range(6):
        _sign_in(client, admin.email, WRONG)
    assert _sign_in(client, admin.email).status_code == 429

    keys = redis.Redis.from_url(TEST_REDIS_URL).keys(f"*{prefix}*")
    assert keys and not any(admin.email.encode() in key for key in keys)

    uri = web.config["SQLALCHEMY_DATABASE_URI"]
    second_process = create_app(test_config(uri, RATELIMIT_KEY_PREFIX=prefix))
    assert _sign_in(_client(second_process), admin.email).status_code == 429
    other_session = create_app(test_config(uri, RATELIMIT_KEY_PREFIX=prefix + "-other"))
    assert _sign_in(_client(other_session), admin.email).status_code == 302
    for other in (second_process, other_session):
        with other.app_context():
            db.engine.dispose()


# --- sessions end at sign-out and at a new password ------------------------------------------


def _sign_out(client) -> None:
    token = csrf_from(client.get("/directory/").get_data(as_text=True))
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302


def _replay(web, cookies: dict[str, str]):
    """A second browser holding only the captured cookies."""
    thief = _client(web)
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def test_a_session_cookie_captured_before_sign_out_stops_working(web, admin):
    client = _client(web)
    assert _sign_in(client, admin.email).status_code == 302
    captured = {"session": client.get_cookie("session").value}
    assert _signed_in(_replay(web, captured))  # the capture itself works while signed in
    _sign_out(client)
    assert not _signed_in(_replay(web, captured))


def test_a_remember_me_cookie_captured_before_sign_out_stops_working(web, admin):
    client = _client(web)
    response = _sign_in(client, admin.email, remember=True)
    captured = {"remember_token": client.get_cookie("remember_token").value}
    assert _signed_in(_replay(web, captured))
    _sign_out(client)
    assert not _signed_in(_replay(web, captured))

    again = _client(web)
    _sign_in(again, admin.email, remember=True)
    assert again.get_cookie("remember_token").value != captured["remember_token"]

    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "remember" in v)
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert expires <= datetime.now(UTC) + timedelta(days=30, minutes=1)


def test_a_new_password_ends_existing_sessions(web, admin):
    client = _client(web)
    _sign_in(client, admin.email, remember=True)
    assert _signed_in(client)
    admin.set_password("a-brand-new-password")
    db.session.commit()
    assert not _signed_in(client)
    assert _sign_in(_client(web), admin.email, "a-brand-new-password").status_code == 302


def test_no_session_outlives_thirty_days_even_never_signed_out(web, admin):
    client = _client(web)
    _sign_in(client, admin.email, remember=True)
    captured = {"remember_token": client.get_cookie("remember_token").value}
    admin.session_token_issued_at -= timedelta(days=30, minutes=1)
    db.session.commit()
    assert not _signed_in(client)
    assert not _signed_in(_replay(web, captured))

    fresh = _client(web)
    assert _sign_in(fresh, admin.email, remember=True).status_code == 302
    assert _signed_in(fresh)  # signing in again starts a new token
    assert fresh.get_cookie("remember_token").value != captured["remember_token"]
    assert not _signed_in(_replay(web, captured))


def test_a_cookie_naming_only_the_admin_id_is_refused(web, admin):
    """Before tokens the user id was the bare row id: such a cookie must not sign in."""
    client = _client(web)
    with client.session_transaction() as session:
        session["_user_id"] = str(admin.id)
        session["_fresh"] = True
    assert not _signed_in(client)
