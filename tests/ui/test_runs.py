"""Sync, the live status fragment, Cancel, View Log and Unmatched Users."""

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import event, func, select

from sisapp.extensions import db
from sisapp.models import SyncLogLine, SyncRun, SyncStatus
from sisapp.models.roster import UnmatchedUser
from sisapp.models.types import utcnow
from tests.factories import make_run

POLL = 'hx-trigger="load delay:2s"'


def _runs() -> list[SyncRun]:
    return list(db.session.scalars(select(SyncRun).order_by(SyncRun.id)))


def test_sync_queues_a_run_and_answers_with_a_polling_fragment(auth_client, integration, hx):
    response = auth_client.post(f"/sis-integration/{integration.id}/sync", headers=hx)
    html = response.get_data(as_text=True)
    (run,) = _runs()
    assert run.status == SyncStatus.QUEUED
    assert html.lstrip().startswith(f'<section id="run-status-{integration.id}"')
    assert POLL in html and f"/sis-integration/{integration.id}/runs/{run.id}/status" in html
    assert 'data-status="queued"' in html and 'data-testid="cancel-sync"' in html

    again = auth_client.post(f"/sis-integration/{integration.id}/sync", headers=hx).get_data(
        as_text=True
    )
    assert len(_runs()) == 1 and f'data-run-id="{run.id}"' in again
    assert "already in progress" in again


def test_sync_without_javascript_redirects(auth_client, integration, csrf_token):
    response = auth_client.post(
        f"/sis-integration/{integration.id}/sync", data={"csrf_token": csrf_token}
    )
    assert response.status_code == 302
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "was queued" in page and POLL in page


def test_sync_without_csrf_is_refused(auth_client, integration):
    response = auth_client.post(
        f"/sis-integration/{integration.id}/sync", headers={"HX-Request": "true"}
    )
    assert response.status_code == 400 and "This form has expired" in response.get_data(
        as_text=True
    )
    assert _runs() == []


def test_fragment_polls_while_active_and_stops_when_ended(auth_client, integration):
    run = make_run(
        integration,
        status=SyncStatus.RUNNING,
        phase="reading_users",
        started_at=utcnow() - timedelta(seconds=125),
        finished_at=None,
        progress_done=30,
        progress_total=120,
        records_read=12345,
        unmatched_users=None,
        matched_students=None,
    )
    url = f"/sis-integration/{integration.id}/runs/{run.id}/status"
    html = auth_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert POLL in html and 'data-status="running"' in html
    assert "Reading users" in html
    assert 'max="120" value="30"' in html and "25%" in html
    assert 'data-testid="records-read">12,345<' in html
    assert 'data-testid="elapsed">2m 0' in html
    assert "sync-details" not in html

    run.status, run.finished_at = SyncStatus.SUCCEEDED, utcnow()
    run.unmatched_users, run.matched_students, run.matched_teachers, run.imported_classes = (
        3,
        50,
        6,
        14,
    )
    db.session.commit()
    html = auth_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in html and "hx-get" not in html.split(">")[0]
    assert 'data-testid="sync-details"' in html and "Succeeded" in html
    for testid, value in (
        ("unmatched-users", 3),
        ("matched-students", 50),
        ("matched-teachers", 6),
        ("imported-classes", 14),
    ):
        assert (
            f'data-testid="count-{testid}">' in html
            and f">{value}<" in html.split(f"count-{testid}")[1][:200]
        )
    assert "count-parents" not in html  # parents only when on


def test_fragment_is_one_small_query(app, auth_client, integration):
    run = make_run(integration, status=SyncStatus.RUNNING, finished_at=None)
    url = f"/sis-integration/{integration.id}/runs/{run.id}/status"
    auth_client.get(url)  # warm up
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert auth_client.get(url, headers={"HX-Request": "true"}).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    run_queries = [s for s in statements if "FROM sync_run" in s]
    assert len(run_queries) == 1
    assert len(statements) <= 3  # the admin, their device, the run


def test_cancel_a_queued_run(auth_client, integration, hx):
    auth_client.post(f"/sis-integration/{integration.id}/sync", headers=hx)
    (run,) = _runs()
    html = auth_client.post(
        f"/sis-integration/{integration.id}/runs/{run.id}/cancel", headers=hx
    ).get_data(as_text=True)
    db.session.refresh(run)
    assert run.status == SyncStatus.CANCELLED
    assert 'data-status="cancelled"' in html and POLL not in html


def test_cancel_a_running_run_keeps_polling(auth_client, integration, hx):
    run = make_run(integration, status=SyncStatus.RUNNING, finished_at=None)
    html = auth_client.post(
        f"/sis-integration/{integration.id}/runs/{run.id}/cancel", headers=hx
    ).get_data(as_text=True)
    db.session.refresh(run)
    assert run.cancel_requested and run.status == SyncStatus.RUNNING
    assert "Cancelling" in html and POLL in html and "cancel-sync" not in html


def test_cancel_form_carries_its_token_only_without_javascript(auth_client, integration, hx):
    """htmx sends the page's X-CSRFToken header, so the polled fragment signs no token of its
    own; the page as first served (no JavaScript needed) has the field and cancels with it."""
    run = make_run(integration, status=SyncStatus.RUNNING, finished_at=None)
    status_url = f"/sis-integration/{integration.id}/runs/{run.id}/status"
    polled = auth_client.get(status_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-testid="cancel-sync"' in polled and 'name="csrf_token"' not in polled

    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    token = re.search(
        r'action="/sis-integration/\d+/runs/\d+/cancel".*?name="csrf_token" value="([^"]+)"',
        page,
        re.S,
    ).group(1)
    without = auth_client.post(f"/sis-integration/{integration.id}/runs/{run.id}/cancel")
    assert without.status_code == 400
    answer = auth_client.post(
        f"/sis-integration/{integration.id}/runs/{run.id}/cancel", data={"csrf_token": token}
    )
    assert answer.status_code == 302
    db.session.refresh(run)
    assert run.cancel_requested


def _lines(run, count):
    start = utcnow() - timedelta(minutes=5)
    db.session.add_all(
        SyncLogLine(
            run_id=run.id,
            at=start + timedelta(milliseconds=i),
            level="error" if i == 7 else "info",
            message=f"line {i:04d} <i>x</i>",
        )
        for i in range(count)
    )
    db.session.commit()


def test_view_log_tail_first_with_earlier_pages(auth_client, integration):
    old = make_run(integration, queued_at=utcnow() - timedelta(days=3))
    _lines(old, 3)
    run = make_run(integration)
    _lines(run, 450)
    url = f"/sis-integration/{integration.id}/log"
    html = auth_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith("<dialog") and 'data-testid="dialog-log"' in html
    assert "line 0449" in html and "line 0250" in html and "line 0249" not in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" not in html
    assert "450 lines, showing the last 200" in html
    assert (
        f'<option value="{run.id}" selected' in html.replace("\n", "").replace("  ", "")
        or f'value="{run.id}" selected' in html
    )
    assert f'value="{old.id}"' in html
    earlier = (
        html.split('data-testid="log-earlier"')[0]
        .rsplit('hx-get="', 1)[1]
        .split('"')[0]
        .replace("&amp;", "&")
    )
    more = auth_client.get(earlier, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert (
        "<dialog" not in more
        and "line 0249" in more
        and "line 0050" in more
        and "line 0049" not in more
    )
    earliest = (
        more.split('data-testid="log-earlier"')[0]
        .rsplit('hx-get="', 1)[1]
        .split('"')[0]
        .replace("&amp;", "&")
    )
    last = auth_client.get(earliest, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "line 0000" in last and "log-earlier" not in last
    # an older run is selectable
    older = auth_client.get(f"{url}?run={old.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "line 0002" in older and "line 0449" not in older
    # without JavaScript: a page
    page = auth_client.get(earlier).get_data(as_text=True)
    assert "<html" in page and "line 0249" in page and "Latest lines" in page


def test_view_log_download_has_every_line(auth_client, integration):
    run = make_run(integration)
    _lines(run, 2500)
    response = auth_client.get(f"/sis-integration/{integration.id}/runs/{run.id}/log.txt")
    body = response.get_data(as_text=True)
    assert (
        response.mimetype == "text/plain"
        and "attachment" in response.headers["Content-Disposition"]
    )
    assert body.count("\n") == 2501 and "line 0000" in body and "line 2499" in body
    assert "ERROR   line 0007" in body


def test_view_log_without_runs(auth_client, integration):
    html = auth_client.get(f"/sis-integration/{integration.id}/log").get_data(as_text=True)
    assert 'data-testid="log-empty"' in html


def test_unmatched_list_and_csv(auth_client, integration):
    run = make_run(integration, unmatched_users=2)
    db.session.add_all(
        [
            UnmatchedUser(
                integration_id=integration.id,
                run_id=run.id,
                sis_sourced_id="u1",
                name="<b>Bold</b> Kid",
                role="student",
                email="kid@sis.example",
                school_name="Alpha Elementary",
            ),
            UnmatchedUser(
                integration_id=integration.id,
                run_id=run.id,
                sis_sourced_id="u2",
                name="=HYPERLINK(1)",
                role="teacher",
                email=None,
                school_name="Beta",
            ),
        ]
    )
    db.session.commit()
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert f'href="/sis-integration/{integration.id}/unmatched"' in page
    html = auth_client.get(f"/sis-integration/{integration.id}/unmatched").get_data(as_text=True)
    assert "&lt;b&gt;Bold&lt;/b&gt; Kid" in html and "<b>Bold</b>" not in html
    assert (
        "emails must match" in html.replace("email in your directory service", "emails must match")
        or "must be the same" in html
    )
    assert 'data-testid="unmatched-total">2<' in html
    response = auth_client.get(f"/sis-integration/{integration.id}/unmatched.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["SIS ID", "Name", "Role", "Email", "School"]
    assert ["u1", "<b>Bold</b> Kid", "student", "kid@sis.example", "Alpha Elementary"] in rows
    assert ["u2", "'=HYPERLINK(1)", "teacher", "", "Beta"] in rows


def test_other_devices_run_is_404_even_with_own_integration(auth_client, integration, other_device):
    from tests.factories import make_integration

    theirs = make_run(make_integration(other_device))
    url = f"/sis-integration/{integration.id}/runs/{theirs.id}/status"
    assert auth_client.get(url).status_code == 404
    assert (
        auth_client.get(f"/sis-integration/{integration.id}/log?run={theirs.id}").status_code == 404
    )
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 1
