"""The SIS Integration page: empty state, rows, escaping, error-code page."""

from datetime import UTC, datetime

from sisapp.models import SyncStatus
from tests.factories import make_integration, make_run


def test_empty_state_explains_first_steps(auth_client):
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'data-testid="empty-state"' in html
    assert "directory" in html.lower() and "client ID" in html and "endpoint URL" in html
    assert (
        "Configuration</span> &gt; <span>Authentication</span> &gt; <span>SIS Integration" in html
    )
    assert "Northside High" in html and "US / NZ" in html
    assert 'id="add-new"' in html


def test_row_shows_name_sis_host_and_buttons(auth_client, integration):
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert f'id="integration-{integration.id}"' in html
    assert "District SIS" in html and "Other" in html and "sis.example.org" in html
    for testid in ("sync", "view-log", "edit", "exclude-schools", "reset", "delete"):
        assert f'data-testid="{testid}"' in html
    assert "Last sync: never" in html


def test_next_scheduled_sync_in_region_zone_only(auth_client, integration, monkeypatch):
    """Issue 18 item 5: one rule for times, the region's zone, labelled (no browser zone)."""
    when = datetime(2030, 3, 5, 0, 0, tzinfo=UTC)  # Mon 6 PM in Chicago
    monkeypatch.setattr(
        "sisapp.services.run_views.next_scheduled_syncs", lambda rows: {i.id: when for i in rows}
    )
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "Mon 04 Mar 2030, 6:00 PM CST" in html
    assert '<time datetime="2030-03-05T00:00:00+00:00">Mon 04 Mar 2030, 6:00 PM CST</time>' in html
    assert "data-localise" not in html and "your time" not in html


def test_last_sync_result_and_details(auth_client, integration):
    make_run(integration, parents=7)
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'data-testid="sync-details"' in html
    assert 'data-testid="count-matched-students">40<' in html
    assert 'data-testid="count-parents">7<' in html
    assert "Succeeded" in html
    assert "hx-trigger" not in html.split('data-testid="run-status"')[1].split(">")[0]


def test_html_in_sis_names_is_escaped(auth_client, device):
    make_integration(
        device,
        name="<script>alert(1)</script>",
        schools=[{"sourced_id": "x", "name": "<b>Evil</b> School"}],
    )
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    integration_id = html.split('data-integration-id="')[1].split('"')[0]
    dialog = auth_client.get(f"/sis-integration/{integration_id}/exclude-schools")
    assert "<b>Evil</b>" not in dialog.get_data(as_text=True)
    assert "&lt;b&gt;Evil&lt;/b&gt; School" in dialog.get_data(as_text=True)


def test_failed_run_shows_code_action_and_link(auth_client, integration):
    make_run(
        integration,
        status=SyncStatus.FAILED,
        error_code="OR120",
        error_message="OR120: credentials refused <b>",
        unmatched_users=None,
        matched_students=None,
    )
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'data-testid="error-code">OR120<' in html
    assert "Re-enter the client ID and secret" in html
    assert "/sis-integration/error-codes#or120" in html
    assert "refused &lt;b&gt;" in html


def test_partial_run_shows_message_and_code(auth_client, integration):
    make_run(
        integration,
        status=SyncStatus.PARTIAL,
        error_code="OR160",
        error_message="School Gamma High could not be read",
    )
    html = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "Partly succeeded" in html
    assert "School Gamma High could not be read" in html
    assert 'data-testid="error-code">OR160<' in html
    assert 'data-testid="sync-details"' in html


def test_error_codes_page_renders_the_reference(auth_client):
    html = auth_client.get("/sis-integration/error-codes").get_data(as_text=True)
    assert '<tr id="or120">' in html
    assert "<code>BAD_CREDENTIALS</code>" in html
    assert "https://&lt;server&gt;/oauth/access_token" in html


def test_error_codes_page_escapes_and_anchors_rows(auth_client):
    """The page renders the enums' text escaped, one row per code anchored by its code."""
    from sisapp.services.error_codes import code_info

    html = auth_client.get("/sis-integration/error-codes").get_data(as_text=True)
    assert "https://<server>" not in html
    assert '<tr id="sy200"><td>SY200</td><td><code>LARGE_REMOVAL</code></td>' in html
    assert code_info("OR120").action.startswith("Re-enter")
    assert code_info("SY200").name == "LARGE_REMOVAL"
    assert code_info("ZZ999") is None


def test_error_codes_page_keeps_operator_notes_apart(auth_client):
    """Admin section first; the technical notes (settings, Redis) only in the operator part."""
    html = auth_client.get("/sis-integration/error-codes").get_data(as_text=True)
    admin, operator = html.split('data-testid="operator-notes"')
    assert "Contact Support with the error code" in admin
    assert "SYNC_HEARTBEAT_TIMEOUT" not in admin and "SYNC_HEARTBEAT_TIMEOUT" in operator
    assert "<details>" in operator and 'id="jb301-operator"' in operator
