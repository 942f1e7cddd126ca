"""Issue 19: the list page builds its rows' links once per endpoint (RowUrls) and signs
its CSRF token once; the links and the token must be the ones url_for and Flask-WTF give."""

import re

from flask import url_for

from sisapp.integrations.presenters import RowUrls
from tests.factories import make_integration

ENDPOINTS = ("integrations.sync", "integrations.log", "integrations.edit",
             "integrations.exclude", "integrations.reset", "integrations.delete")  # fmt: skip


def test_row_urls_are_url_for(app):
    with app.test_request_context("/sis-integration/"):
        urls = RowUrls()
        for endpoint in ENDPOINTS:
            for integration_id in (1, 7, 42, 123456):
                assert urls(endpoint, integration_id=integration_id) == url_for(
                    endpoint, integration_id=integration_id
                )
        # Anything else is url_for's own answer.
        assert urls("integrations.index") == url_for("integrations.index")
        assert urls("integrations.log", integration_id=3, _anchor="x") == url_for(
            "integrations.log", integration_id=3, _anchor="x"
        )
        assert urls("integrations.edit", integration_id="5") == url_for(
            "integrations.edit", integration_id="5"
        )


def test_rows_link_to_their_own_integration_and_carry_the_token(auth_client, device, csrf_token):
    first, second = make_integration(device, name="First"), make_integration(device, name="Second")
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    for integration in (first, second):
        row = html.split(f'id="integration-{integration.id}"')[1].split("</li>")[0]
        assert f'href="/sis-integration/{integration.id}/edit"' in row
        assert f'action="/sis-integration/{integration.id}/sync"' in row
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
    assert len(tokens) == 1
    # The rendered token is accepted by a form post without JavaScript.
    answer = auth_client.post(
        f"/sis-integration/{first.id}/sync", data={"csrf_token": tokens.pop()}
    )
    assert answer.status_code in (200, 302), answer.status_code


def _statements(auth_client) -> list[str]:
    from sqlalchemy import event

    from sisapp.extensions import db

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert auth_client.get("/sis-integration/").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statements


def test_the_list_page_asks_the_database_as_often_for_twelve_rows_as_for_two(auth_client, device):
    """Issue 19 target 4: nothing on the page is looked up once per row (previews, next full
    reads, the plan), so 10,000 integrations on a server cost no more per page of rows."""
    from sisapp.models import SyncStatus, SyncTrigger
    from tests.factories import make_run

    def add(n):
        for k in range(n):
            integration = make_integration(device, name=f"Row {k}")
            make_run(integration)  # a succeeded sync
            make_run(integration, trigger=SyncTrigger.PREVIEW, status=SyncStatus.PREVIEW)

    add(2)
    few = len(_statements(auth_client))
    add(10)
    many = len(_statements(auth_client))
    assert many == few, (few, many)
