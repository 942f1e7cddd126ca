"""Security: CSRF on every state change, other devices' runs and logs stay invisible,
and the client secret and OAuth tokens appear in no page, log line, error message or
exception text, even when the SIS echoes requests back in its error bodies."""

from __future__ import annotations

import json
import logging
import re
import traceback

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.wrappers import Response

from sisapp import create_app
from sisapp.extensions import db
from sisapp.logging_setup import JsonFormatter
from sisapp.models import SyncLogLine, SyncRun, SyncStatus, UnmatchedUser
from sisapp.oneroster import OneRosterClient, OneRosterError
from sisapp.services import sync_runs
from sisapp.services.integrations import connection_settings
from tests.factories import make_integration, make_run
from tests.helpers.app import csrf_from, login
from tests.helpers.faults import CLIENT_ID, CLIENT_SECRET, worker
from tests.helpers.processes import finish, output

WRONG_SECRET = "wrong-secret-Zq81-also-never-shown"


def _rules(method: str):
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    for rule in app.url_map.iter_rules():
        if method in rule.methods and rule.endpoint != "static":
            yield rule.rule, rule.endpoint


def _fill(rule: str, ids: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), rule)


def _forget_user() -> None:
    """The test's app context outlives requests, and Flask-Login and Flask-WTF cache the
    user and the CSRF token in `g`: drop them so the next request reads its own session."""
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def _everything() -> dict:
    """Every row of every table: what a refused request must leave as it was."""
    db.session.rollback()
    return {
        table.name: sorted(map(repr, db.session.execute(select(table))))
        for table in db.metadata.sorted_tables
    }


# --- CSRF --------------------------------------------------------------------------------

SUBMISSION = {
    "sis_vendor": "other",
    "name": "Changed",
    "endpoint_url": "http://127.0.0.1:9/ims/oneroster/v1p1",
    "client_id": "changed",
    "client_secret": "changed-secret",
    "understand": "y",
    "excluded": "sch-1",
    "email": "it@northside.example",
    "password": "correct-horse-battery",
}


@pytest.mark.parametrize("case", ["missing", "garbage", "another session's"])
def test_csrf_missing_or_wrong_is_refused_on_every_state_change(
    app, client, admin, other_admin, device, case
):
    """Every POST rule of the app (walked from its URL map), each with a submission that
    would otherwise be valid: refused with the CSRF page, and nothing at all changed."""
    integration = make_integration(device)
    queued = make_run(integration, status=SyncStatus.QUEUED, finished_at=None)
    ids = {"integration_id": integration.id, "run_id": queued.id}
    other = app.test_client()
    login(other, other_admin.email)
    foreign_token = csrf_from(other.get("/directory/").get_data(as_text=True))
    signed_out = app.test_client()
    _forget_user()
    login(client, admin.email)
    before = _everything()
    rules = sorted(_rules("POST"))
    assert len(rules) >= 12
    for rule, endpoint in rules:
        browser = signed_out if endpoint == "auth.login_post" else client
        data, headers = dict(SUBMISSION), {"HX-Request": "true"}
        if case == "garbage":
            data["csrf_token"] = headers["X-CSRFToken"] = "garbage.token.value"
        elif case == "another session's":
            data["csrf_token"] = headers["X-CSRFToken"] = foreign_token
        _forget_user()
        response = browser.post(_fill(rule, ids), data=data, headers=headers)
        assert response.status_code == 400, (rule, response.status_code)
        assert "This form has expired" in response.get_data(as_text=True), rule
        assert _everything() == before, rule
        _forget_user()
        assert client.get("/sis-integration/").status_code == 200, rule  # still signed in
        _forget_user()
        assert signed_out.get("/sis-integration/").status_code == 302, rule  # still out


def test_every_page_and_fragment_carries_the_content_security_policy(auth_client, device):
    """Walked from the URL map, as the CSRF test is: no route answers without the headers."""
    integration = make_integration(device)
    run = make_run(integration)
    ids = {"integration_id": integration.id, "run_id": run.id}
    rules = sorted(_rules("GET"))
    assert len(rules) >= 10
    for rule, endpoint in rules:
        for headers in ({}, {"HX-Request": "true"}):
            response = auth_client.get(_fill(rule, ids), headers=headers)
            # /readyz answers 503 by design here (no worker runs in this test)
            assert response.status_code < 500 or endpoint == "ops.readyz", rule
            policy = response.headers.get("Content-Security-Policy", "")
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, rule
            assert response.headers.get("X-Content-Type-Options") == "nosniff", rule
            response.close()


# --- other devices --------------------------------------------------------------------------


@pytest.fixture
def two_devices(device, other_device, admin, other_admin):
    """(own integration, own other integration, foreign integration) with runs and data."""
    mine = make_integration(device)
    mine_too = make_integration(device, name="Second SIS")
    theirs = make_integration(other_device, name="Their SIS")
    runs = {i.id: make_run(i) for i in (mine, mine_too, theirs)}
    active = make_run(theirs, status=SyncStatus.QUEUED, finished_at=None)
    db.session.add_all(
        [
            SyncLogLine(run_id=runs[theirs.id].id, level="info", message="THEIR-LOG-LINE"),
            UnmatchedUser(
                integration_id=theirs.id, sis_sourced_id="x", name="THEIR-UNMATCHED", role="student"
            ),
        ]
    )
    db.session.commit()
    return mine, mine_too, theirs, runs, active


def test_runs_logs_and_unmatched_of_others_answer_404(auth_client, csrf_token, two_devices):
    mine, mine_too, theirs, runs, active = two_devices
    hx = {"X-CSRFToken": csrf_token}
    mixes = {
        "their run under my integration": (mine.id, runs[theirs.id].id),
        "their active run under my integration": (mine.id, active.id),
        "my other integration's run": (mine.id, runs[mine_too.id].id),
        "their run under theirs": (theirs.id, runs[theirs.id].id),
    }
    for label, (integration_id, run_id) in mixes.items():
        base = f"/sis-integration/{integration_id}"
        for method, url in (
            ("GET", f"{base}/runs/{run_id}/status"),
            ("GET", f"{base}/runs/{run_id}/log.txt"),
            ("GET", f"{base}/log?run={run_id}"),
            ("GET", f"{base}/log?run={run_id}&before=999999"),
            ("POST", f"{base}/runs/{run_id}/cancel"),
        ):
            response = auth_client.open(url, method=method, headers=hx)
            assert response.status_code == 404, (label, url)
            assert b"THEIR-LOG-LINE" not in response.data
    for url in (
        f"/sis-integration/{theirs.id}/unmatched",
        f"/sis-integration/{theirs.id}/unmatched.csv",
    ):
        assert auth_client.get(url).status_code == 404
    assert auth_client.post(f"/sis-integration/{theirs.id}/sync", headers=hx).status_code == 404

    db.session.refresh(active)
    assert active.status is SyncStatus.QUEUED and not active.cancel_requested
    assert (
        db.session.scalar(
            select(SyncRun.id).where(SyncRun.integration_id == theirs.id, SyncRun.id > active.id)
        )
        is None
    )
    for url in ("/sis-integration/", f"/sis-integration/{mine.id}/log", "/directory/classrooms"):
        html = auth_client.get(url).get_data(as_text=True)
        assert "Their SIS" not in html and "THEIR-" not in html


# --- secrets --------------------------------------------------------------------------------


class EchoingSIS:
    """Makes the demo SIS echo each refused request (its Authorization header and form)
    into the error body, as careless servers do, and records every token it issues."""

    def __init__(self, sis):
        self.sis = sis
        self.tokens: list[str] = []
        self.fail_school: str | None = None
        issue, dispatch = sis.auth.issue_token, sis.dispatch

        def issue_token(request):
            status, body = issue(request)
            if "access_token" in body:
                self.tokens.append(body["access_token"])
            return status, body

        def echoing(request):
            response, slept = dispatch(request)
            if self.fail_school and f"/schools/{self.fail_school}/" in request.path:
                response = Response(json.dumps({"imsx_codeMajor": "failure"}), 500)
            if response.status_code >= 400:
                body = json.loads(response.get_data(as_text=True) or "{}")
                echo = (
                    f" (you sent Authorization: {request.headers.get('Authorization')}; "
                    f"form: {request.form.to_dict()})"
                )
                for key in ("imsx_description", "error_description"):
                    body[key] = str(body.get(key, "")) + echo
                response.set_data(json.dumps(body))
            return response, slept

        sis.auth.issue_token = issue_token
        sis.dispatch = echoing


def _pages(client, integration_id: int, run_ids: list[int]) -> dict[str, str]:
    """Every page an admin can open about the integration and its runs."""
    base = f"/sis-integration/{integration_id}"
    urls = [
        url
        for url, endpoint in _rules("GET")
        if "<" not in url and "static" not in url and not endpoint.startswith("ops.")
    ]  # ops: the health checks and metrics (tests/ops), not admin pages
    urls += [
        f"{base}/{p}"
        for p in ("edit", "exclude-schools", "reset", "delete", "log", "unmatched", "unmatched.csv")
    ]
    for run_id in run_ids:
        urls += [
            f"{base}/runs/{run_id}/status",
            f"{base}/runs/{run_id}/log.txt",
            f"{base}/log?run={run_id}",
        ]
    pages = {}
    for url in urls:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers, follow_redirects=True)
            assert response.status_code == 200, url
            pages[f"{url} {headers}"] = response.get_data(as_text=True)
    return pages


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["oauth2", "oauth1"])
def test_secret_and_tokens_appear_in_no_page_log_message_or_exception(
    app, sis, district, new_integration, sync_now, box, auth_client, csrf_token, caplog, auth
):
    for name in ("", "sisapp", "requests_oauthlib", "oauthlib", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name or None)
    echo = EchoingSIS(sis)
    integration = new_integration(oauth1=auth == "oauth1")
    if auth == "oauth2":
        sis.faults.token_expiry = 0.5  # several tokens, and their refusals, in one sync
        sis.faults.latency_ms = 30
    sis.faults.error_rate = 0.05  # retries, with echoing error bodies
    runs = [sync_now(integration, concurrency=2, page_size=50)]
    assert runs[0].status is SyncStatus.SUCCEEDED, runs[0].error_message
    sis.faults.error_rate = 0
    echo.fail_school = district.schools[1]["sourcedId"]  # failing for good, echoing
    runs.append(sync_now(integration, full=True, client_options={"max_retries": 1}))
    assert runs[-1].status is SyncStatus.PARTIAL, runs[-1].error_message
    echo.fail_school = None

    # A wrong secret: refused, and the refusal echoes what was sent.
    integration.client_secret_encrypted = box.encrypt(WRONG_SECRET)
    db.session.commit()
    runs.append(sync_now(integration))
    assert runs[-1].status is SyncStatus.FAILED and runs[-1].error_code in ("OR120", "OR122")

    # Test Connection and the fresh school list go through the same client.
    hx = {"HX-Request": "true", "X-CSRFToken": csrf_token}
    tested = auth_client.post(
        f"/sis-integration/{integration.id}/test-connection",
        data={
            "sis_vendor": "other",
            "name": "x",
            "endpoint_url": sis.root_url,
            "token_url": "" if auth == "oauth1" else sis.token_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        headers=hx,
    ).get_data(as_text=True)
    assert "Connected" in tested
    refreshed = auth_client.post(
        f"/sis-integration/{integration.id}/schools/refresh", headers=hx
    ).get_data(as_text=True)
    assert "OR12" in refreshed  # the stored (wrong) secret is refused

    # Exceptions themselves: their text, repr and traceback.
    integration.client_secret_encrypted = box.encrypt(CLIENT_SECRET)
    db.session.commit()
    echo.fail_school = district.schools[0]["sourcedId"]
    settings = connection_settings(integration, box, allow_private=True, max_retries=0)
    with OneRosterClient(settings) as client, pytest.raises(OneRosterError) as raised:
        list(client.classes(echo.fail_school))
    error = raised.value
    exception_texts = [
        str(error),
        repr(error),
        error.message,
        str(error.detail),
        "".join(traceback.format_exception(error)),
    ]

    secrets = [CLIENT_SECRET, WRONG_SECRET, *echo.tokens]
    assert len(echo.tokens) >= (4 if auth == "oauth2" else 0)
    pages = _pages(auth_client, integration.id, [r.id for r in runs])
    db.session.rollback()
    lines = list(db.session.scalars(select(SyncLogLine.message)))
    messages = [r.error_message or "" for r in db.session.scalars(select(SyncRun))]
    formatter = logging.Formatter("%(name)s %(message)s")
    logged = [formatter.format(record) for record in caplog.records]
    json_logged = [JsonFormatter().format(record) for record in caplog.records]
    assert any("retry" in line for line in lines) and any("you sent" in m for m in logged + lines)
    for secret in secrets:
        for where, texts in (
            ("page", pages.values()),
            ("log line", lines),
            ("error message", messages),
            ("python log", logged),
            ("json log", json_logged),
            ("exception", exception_texts),
            ("test result", [tested, refreshed]),
        ):
            leaked = [text[:200] for text in texts if secret in text]
            assert not leaked, (where, leaked)


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_worker_logs_neither_secret_nor_tokens(
    app, sis, new_integration, processes, queue_name, redis_conn, log_format
):
    echo = EchoingSIS(sis)
    sis.faults.token_expiry = 0.5
    sis.faults.latency_ms = 30
    sis.faults.error_rate = 0.05
    integration = new_integration()
    run, _ = sync_runs.request_sync(integration)
    proc = worker(processes, queue_name, SISAPP_LOG_FORMAT=log_format)
    text = finish(proc, timeout=120)
    db.session.rollback()
    assert db.session.get(SyncRun, run.id).status is SyncStatus.SUCCEEDED
    assert echo.tokens and "sync run" in output(proc)
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert any("sync run" in line["message"] for line in lines)
    for secret in (CLIENT_SECRET, app.config["ENCRYPTION_KEY"], *echo.tokens):
        assert secret not in text
