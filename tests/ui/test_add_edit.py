"""Add New → OneRoster, Edit, Test Connection, validation and the secret's privacy."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.keys import SecretBox
from sisapp.models import OneRosterIntegration
from sisapp.models.types import utcnow
from tests.factories import TEST_SECRET, make_integration, make_run
from tests.helpers.forms import form_data


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(OneRosterIntegration))


def test_choose_dialog_htmx_and_page(auth_client):
    frag = auth_client.get("/sis-integration/new", headers={"HX-Request": "true"})
    html = frag.get_data(as_text=True)
    assert html.lstrip().startswith("<dialog") and "data-autoopen" in html
    assert (
        'data-testid="choose-oneroster"' in html
        and 'hx-get="/sis-integration/new/oneroster"' in html
    )
    page = auth_client.get("/sis-integration/new").get_data(as_text=True)
    assert (
        "<html" in page
        and "<dialog" in page
        and " open" in page
        and 'hx-get="/sis-integration/new/oneroster"' not in page
    )


def test_add_dialog_fields_in_order_with_help(auth_client):
    html = auth_client.get(
        "/sis-integration/new/oneroster", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    order = [
        "sis_vendor",
        "name",
        "endpoint_url",
        "token_url",
        "client_id",
        "client_secret",
        "sync_classes",
        "respect_enrolment_date",
        "respect_academic_sessions",
        "sync_parents",
        "relationship_type",
    ]
    positions = [html.index(f'id="{name}"') for name in order]
    assert positions == sorted(positions)
    for name in order:
        assert f'<label for="{name}">' in html
        assert f'id="{name}-help"' in html
    assert "Which SIS would you like to integrate?" in html
    for vendor in (
        "PowerSchool",
        "Ellucian",
        "eSchoolPlus",
        "Illuminate Education",
        "Unit4",
        "Other",
    ):
        assert f">{vendor}</option>" in html
    assert 'id="sync_classes" name="sync_classes" type="checkbox" value="y" checked' in html or (
        'checked id="sync_classes"' in html
    )
    assert 'data-testid="test-connection"' in html
    for rel in ("Parent", "Relative", "Guardian"):
        assert f">{rel}</option>" in html


def test_add_saves_and_redirects(auth_client, csrf_token, hx):
    response = auth_client.post(
        "/sis-integration/new/oneroster", data=form_data(csrf_token), headers=hx
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/sis-integration/"
    stored = db.session.scalar(select(OneRosterIntegration))
    assert stored.name == "Demo District" and stored.needs_sync
    assert "top-secret-value-123" not in stored.client_secret_encrypted
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "Demo District" in page and "was added" in page


def test_add_without_javascript_is_post_redirect_get(auth_client, csrf_token):
    response = auth_client.post("/sis-integration/new/oneroster", data=form_data(csrf_token))
    assert response.status_code == 302 and response.headers["Location"] == "/sis-integration/"
    assert _count() == 1


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"name": ""}, "name", "Give the integration a name."),
        ({"endpoint_url": "not a url"}, "endpoint_url", "must be a full URL"),
        ({"token_url": "ftp://x"}, "token_url", "must be a full URL"),
        ({"client_id": ""}, "client_id", "Enter the client ID"),
        ({"client_secret": ""}, "client_secret", "Enter the client secret"),
        (
            {"sis_vendor": "powerschool", "sync_parents": "y", "relationship_type": "parent"},
            "sync_parents",
            "Syncing Parent Data from PowerSchool is unavailable",
        ),
        ({"sync_parents": "y"}, "relationship_type", "Choose the relationship type"),
    ],
)
def test_invalid_add_rerenders_with_field_error_and_saves_nothing(
    auth_client, csrf_token, hx, fields, field_id, message
):
    response = auth_client.post(
        "/sis-integration/new/oneroster", data=form_data(csrf_token, **fields), headers=hx
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert html.lstrip().startswith("<dialog")
    block = html.split(f'id="field-{field_id}"')[1].split('class="field')[0]
    assert message in block and 'aria-invalid="true"' in block or message in block
    assert "top-secret-value-123" not in html
    assert _count() == 0


def test_invalid_add_without_javascript_renders_page(auth_client, csrf_token):
    response = auth_client.post(
        "/sis-integration/new/oneroster", data=form_data(csrf_token, name="")
    )
    html = response.get_data(as_text=True)
    assert (
        response.status_code == 200 and "<html" in html and "Give the integration a name." in html
    )


def test_edit_never_sends_the_secret_and_blank_keeps_it(auth_client, integration, csrf_token, hx):
    # Synced once before the edit: the "Settings changed" banner compares with that sync.
    make_run(integration, queued_at=utcnow() - timedelta(minutes=5))
    url = f"/sis-integration/{integration.id}/edit"
    for headers in ({}, {"HX-Request": "true"}):
        html = auth_client.get(url, headers=headers).get_data(as_text=True)
        assert TEST_SECRET not in html
        assert 'value="District SIS"' in html and "Leave blank to keep" in html
    data = form_data(
        csrf_token, name="Renamed", client_secret="", endpoint_url=integration.endpoint_url
    )
    response = auth_client.post(url, data=data, headers=hx)
    assert response.headers["HX-Redirect"] == "/sis-integration/"
    db.session.refresh(integration)
    box = SecretBox(auth_client.application.config["ENCRYPTION_KEY"])
    assert (
        integration.name == "Renamed"
        and box.decrypt(integration.client_secret_encrypted) == TEST_SECRET
    )
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert "A sync is needed" in page and 'data-testid="needs-sync"' in page
    assert TEST_SECRET not in page


def test_edit_invalid_keeps_stored_values(auth_client, integration, csrf_token, hx):
    url = f"/sis-integration/{integration.id}/edit"
    response = auth_client.post(url, data=form_data(csrf_token, endpoint_url="nope"), headers=hx)
    html = response.get_data(as_text=True)
    assert (
        "must be a full URL" in html
        and "top-secret-value-123" not in html
        and TEST_SECRET not in html
    )
    db.session.refresh(integration)
    assert integration.endpoint_url.startswith("https://sis.example.org")


def test_edit_with_new_secret_replaces_it(auth_client, integration, csrf_token):
    url = f"/sis-integration/{integration.id}/edit"
    auth_client.post(url, data=form_data(csrf_token, client_secret="brand-new-secret"))
    db.session.refresh(integration)
    box = SecretBox(auth_client.application.config["ENCRYPTION_KEY"])
    assert box.decrypt(integration.client_secret_encrypted) == "brand-new-secret"


def test_csrf_failure_shows_a_friendly_message(auth_client):
    data = form_data("bogus")
    response = auth_client.post("/sis-integration/new/oneroster", data=data)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    htmx = auth_client.post(
        "/sis-integration/new/oneroster",
        data=data,
        headers={"HX-Request": "true", "X-CSRFToken": "x"},
    )
    body = htmx.get_data(as_text=True)
    assert htmx.status_code == 400 and "<html" not in body and "This form has expired" in body
    assert _count() == 0


@pytest.fixture(scope="module")
def demo_district():
    return generate_district(DistrictSpec(schools=3, students=60, seed=5))


@pytest.fixture
def demo_sis(demo_district):
    with DemoSISServer(demo_district, client_id="ui-client", client_secret="ui-secret") as server:
        yield server


def _sis_fields(demo_sis, csrf_token, **extra):
    fields = {
        "endpoint_url": demo_sis.base_url("v1p1"),
        "client_id": "ui-client",
        "client_secret": "ui-secret",
    }
    return form_data(csrf_token, **{**fields, **extra})


def test_test_connection_reports_version_auth_and_schools(auth_client, csrf_token, hx, demo_sis):
    response = auth_client.post(
        "/sis-integration/test-connection", data=_sis_fields(demo_sis, csrf_token), headers=hx
    )
    html = response.get_data(as_text=True)
    assert 'data-testid="test-ok"' in html, html
    assert 'data-testid="test-version">1.1' in html
    assert "OAuth 1.0a" in html
    assert 'data-testid="test-schools">3<' in html
    assert _count() == 0


def test_test_connection_bad_secret_shows_code_and_action(auth_client, csrf_token, hx, demo_sis):
    data = _sis_fields(demo_sis, csrf_token, client_secret="wrong")
    html = auth_client.post("/sis-integration/test-connection", data=data, headers=hx).get_data(
        as_text=True
    )
    assert 'data-testid="test-error-code">OR12' in html
    assert "What to do:" in html and "Re-enter the client" in html


def test_test_connection_without_javascript_renders_dialog_page(auth_client, csrf_token, demo_sis):
    html = auth_client.post(
        "/sis-integration/test-connection", data=_sis_fields(demo_sis, csrf_token)
    ).get_data(as_text=True)
    assert "<html" in html and 'data-testid="test-ok"' in html and 'value="Demo District"' in html


def test_test_connection_while_editing_uses_stored_secret(
    auth_client, device, csrf_token, hx, demo_sis
):
    integration = make_integration(
        device,
        endpoint_url=demo_sis.base_url("v1p1"),
        client_id="ui-client",
        client_secret="ui-secret",
    )
    data = _sis_fields(demo_sis, csrf_token, client_secret="")
    url = f"/sis-integration/{integration.id}/test-connection"
    html = auth_client.post(url, data=data, headers=hx).get_data(as_text=True)
    assert 'data-testid="test-ok"' in html
    assert "ui-secret" not in html
