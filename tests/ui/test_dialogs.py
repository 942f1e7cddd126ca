"""Exclude Schools, Reset and Delete dialogs."""

from datetime import UTC, datetime

from markupsafe import escape
from sqlalchemy import select

from sisapp.demo_sis import DemoSISServer, DistrictSpec, generate_district
from sisapp.extensions import db
from sisapp.models import DirectoryUser, OneRosterIntegration, UserKind
from tests.factories import make_integration


def _list(html: str, which: str) -> str:
    return html.split(f'<ul class="schools" id="{which}-schools"')[1].split("</ul>")[0]


def test_exclude_dialog_lists_all_schools_included(auth_client, integration):
    html = auth_client.get(
        f"/sis-integration/{integration.id}/exclude-schools", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    included = _list(html, "included")
    excluded = _list(html, "excluded")
    for name in ("Alpha Elementary", "Beta Middle", "Gamma High"):
        assert name in included
    assert "<li" not in excluded


def test_exclude_moves_schools_and_needs_sync(auth_client, integration, csrf_token, hx):
    url = f"/sis-integration/{integration.id}/exclude-schools"
    response = auth_client.post(
        url, data={"csrf_token": csrf_token, "excluded": ["sch-2"]}, headers=hx
    )
    assert response.headers["HX-Redirect"] == "/sis-integration/"
    db.session.refresh(integration)
    assert integration.excluded_school_ids == ["sch-2"] and integration.needs_sync
    html = auth_client.get(url).get_data(as_text=True)
    assert "Beta Middle" in _list(html, "excluded")
    assert "Beta Middle" not in _list(html, "included")
    # and back: nothing ticked includes every school again (without JavaScript: PRG)
    response = auth_client.post(url, data={"csrf_token": csrf_token})
    assert response.status_code == 302
    db.session.refresh(integration)
    assert integration.excluded_school_ids == []


def test_exclude_unknown_school_is_refused(auth_client, integration, csrf_token, hx):
    url = f"/sis-integration/{integration.id}/exclude-schools"
    html = auth_client.post(
        url, data={"csrf_token": csrf_token, "excluded": ["nope"]}, headers=hx
    ).get_data(as_text=True)
    assert "Unknown school: nope" in html
    db.session.refresh(integration)
    assert integration.excluded_school_ids == []


def test_exclude_without_schools_explains(auth_client, device):
    integration = make_integration(device, schools=[])
    html = auth_client.get(f"/sis-integration/{integration.id}/exclude-schools").get_data(
        as_text=True
    )
    assert 'data-testid="no-schools"' in html and 'data-testid="read-schools"' in html


def test_fresh_read_of_schools(auth_client, device, csrf_token, hx):
    district = generate_district(DistrictSpec(schools=2, students=30, seed=3))
    with DemoSISServer(district, client_id="c", client_secret="s3cret") as sis:
        integration = make_integration(
            device,
            schools=[],
            endpoint_url=sis.base_url("v1p1"),
            client_id="c",
            client_secret="s3cret",
        )
        url = f"/sis-integration/{integration.id}/schools/refresh"
        html = auth_client.post(url, data={"csrf_token": csrf_token}, headers=hx).get_data(
            as_text=True
        )
    db.session.refresh(integration)
    assert len(integration.schools) == 2
    for school in integration.schools:
        assert str(escape(school["name"])) in _list(html, "included")


def test_fresh_read_failure_shows_code(auth_client, device, csrf_token, hx):
    integration = make_integration(
        device, schools=[], endpoint_url="http://127.0.0.1:9/ims/oneroster/v1p1"
    )
    url = f"/sis-integration/{integration.id}/schools/refresh"
    html = auth_client.post(url, data={"csrf_token": csrf_token}, headers=hx).get_data(as_text=True)
    assert 'data-testid="schools-read-error"' in html and "OR1" in html


def test_reset_needs_the_checkbox(auth_client, integration, csrf_token, hx):
    integration.last_sync_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    url = f"/sis-integration/{integration.id}/reset"
    dialog = auth_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert (
        "I Understand" in dialog
        and "Yes, Reset" in dialog
        and "No synced data is removed" in dialog
    )
    assert (
        'data-testid="confirm-yes"' in dialog
        and "disabled" in dialog.split(' id="confirm-yes"')[1].split(">")[0]
    )
    page = auth_client.get(url).get_data(as_text=True)
    assert (
        "disabled" not in page.split(' id="confirm-yes"')[1].split(">")[0]
    )  # no JS: server checks

    html = auth_client.post(url, data={"csrf_token": csrf_token}, headers=hx).get_data(as_text=True)
    assert "Tick “I Understand” to continue." in html
    db.session.refresh(integration)
    assert integration.last_sync_at is not None

    response = auth_client.post(url, data={"csrf_token": csrf_token, "understand": "y"}, headers=hx)
    assert response.headers["HX-Redirect"] == "/sis-integration/"
    db.session.refresh(integration)
    assert integration.last_sync_at is None


def test_delete_needs_the_checkbox_and_keeps_users(auth_client, integration, device, csrf_token):
    db.session.add(DirectoryUser(device_id=device.id, email="a@x.org", kind=UserKind.STUDENT))
    db.session.commit()
    url = f"/sis-integration/{integration.id}/delete"
    dialog = auth_client.get(url).get_data(as_text=True)
    assert "Yes, Delete" in dialog and "Students, teachers and classrooms stay" in dialog
    response = auth_client.post(url, data={"csrf_token": csrf_token})
    assert response.status_code == 200 and "Tick “I Understand” to continue." in response.get_data(
        as_text=True
    )
    assert db.session.get(OneRosterIntegration, integration.id) is not None

    response = auth_client.post(url, data={"csrf_token": csrf_token, "understand": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(OneRosterIntegration)) is None
    assert db.session.scalar(select(DirectoryUser)) is not None
    assert "was deleted" in auth_client.get("/sis-integration/").get_data(as_text=True)
