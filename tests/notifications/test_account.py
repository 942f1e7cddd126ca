"""The Notifications setting: each admin switches their own sync emails on or off."""

from sisapp.extensions import db
from sisapp.models import AdminUser
from tests.helpers.app import csrf_from


def test_the_header_links_the_notifications_page(auth_client):
    page = auth_client.get("/sis-integration/").get_data(as_text=True)
    assert 'href="/account/notifications"' in page


def test_sync_emails_are_on_by_default_and_can_be_switched_off_and_on(auth_client, admin):
    page = auth_client.get("/account/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="sync_emails"' in html and "checked" in html
    token = csrf_from(html)

    response = auth_client.post("/account/notifications", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AdminUser, admin.id).notify_sync_results is False
    assert "checked" not in auth_client.get("/account/notifications").get_data(as_text=True)

    auth_client.post("/account/notifications", data={"csrf_token": token, "sync_emails": "y"})
    db.session.expire_all()
    assert db.session.get(AdminUser, admin.id).notify_sync_results is True


def test_a_post_without_csrf_changes_nothing(auth_client, admin):
    response = auth_client.post("/account/notifications", data={})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(AdminUser, admin.id).notify_sync_results is True


def test_only_signed_in_admins_see_it(client):
    response = client.get("/account/notifications")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
