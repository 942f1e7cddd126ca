"""Sign-in, sign-out and the session cookie."""

from tests.helpers.app import PASSWORD, csrf_from, login


def test_login_page_renders_with_csrf(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
    assert csrf_from(page.get_data(as_text=True))


def test_good_login_lands_on_sis_integration(client, admin):
    response = login(client, "IT@Northside.example ")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sis-integration/")
    page = client.get("/sis-integration/").get_data(as_text=True)
    assert "Configuration" in page and "Authentication" in page and "SIS Integration" in page
    assert "Northside High" in page and "US / NZ" in page


def test_session_cookie_is_httponly_and_samesite(client, admin):
    response = login(client, admin.email)
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and "session=" in v)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_wrong_password_rerenders_with_error(client, admin):
    response = login(client, admin.email, "wrong-password")
    assert response.status_code == 200
    assert "Email or password is not right." in response.get_data(as_text=True)
    assert client.get("/sis-integration/").status_code == 302


def test_unknown_email_gets_the_same_message(client, admin):
    response = login(client, "nobody@example.org")
    assert "Email or password is not right." in response.get_data(as_text=True)


def test_login_without_csrf_is_refused(client, admin):
    response = client.post("/auth/login", data={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/sis-integration/").status_code == 302


def test_next_is_followed_only_within_the_site(client, admin):
    page = client.get("/auth/login")
    token = csrf_from(page.get_data(as_text=True))
    data = {"email": admin.email, "password": PASSWORD, "csrf_token": token}
    response = client.post("/auth/login?next=//evil.example/x", data=data)
    assert response.headers["Location"].endswith("/sis-integration/")


def test_logout_is_a_post_with_csrf(auth_client, csrf_token):
    assert auth_client.get("/auth/logout").status_code == 405
    auth_client.post("/auth/logout", data={"csrf_token": csrf_token})
    assert auth_client.get("/sis-integration/").status_code == 302


def test_csrf_failure_shows_a_friendly_page(auth_client):
    response = auth_client.post("/auth/logout", data={"csrf_token": "bogus"})
    assert response.status_code == 400
    assert "Reload the page and try again" in response.get_data(as_text=True)
