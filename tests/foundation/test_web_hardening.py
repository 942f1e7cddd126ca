"""Web hardening: security headers on every response, a cap on request bodies, directory
files refused with the line to fix, and names that would display in a lying order."""

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sisapp import create_app
from sisapp.extensions import db
from sisapp.models import DirectoryUser, OneRosterIntegration
from sisapp.services.directory import DirectoryImportError, import_directory_csv
from tests.helpers.app import test_config

HEADER = "email,given_name,family_name,kind,source\n"
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


def _policy(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


# --- headers -------------------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(client, auth_client, csrf_token):
    signed_out = client.application.test_client()
    responses = {
        "sign-in page": signed_out.get("/auth/login"),
        "redirect to sign-in": signed_out.get("/sis-integration/"),
        "page": auth_client.get("/sis-integration/"),
        "htmx fragment": auth_client.get("/sis-integration/new", headers={"HX-Request": "true"}),
        "static file": auth_client.get("/static/app.js"),
        "not found": auth_client.get("/no-such-page"),
        "CSRF refusal": auth_client.post("/auth/logout", data={"csrf_token": "bogus"}),
    }
    for what, response in responses.items():
        headers = response.headers
        policy = _policy(headers.get("Content-Security-Policy", ""))
        assert {k: policy.get(k) for k in CSP} == CSP, what
        assert "unsafe-inline" not in headers["Content-Security-Policy"], what
        assert headers.get("X-Content-Type-Options") == "nosniff", what
        assert headers.get("Referrer-Policy") == "same-origin", what
        assert "Strict-Transport-Security" not in headers, what  # development: plain http
        response.close()


def test_production_adds_hsts(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("SISAPP_INSTANCE_PATH", str(tmp_path))
    app = create_app(test_config(database_url, ENV="production", REDIS_URL=""))
    response = app.test_client().get("/auth/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with app.app_context():
        db.engine.dispose()


def test_templates_need_no_inline_script_or_style(project_root: Path):
    """The policy allows no inline code: nothing in the templates may need it."""
    offenders = []
    for path in (project_root / "templates").rglob("*.html"):
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\sstyle=",
            r"\son[a-z]+=",
            r"hx-on",
            r"javascript:",
        ):
            offenders += [(path.name, m.group(0)) for m in re.finditer(pattern, text)]
    assert offenders == []
    base = (project_root / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles": false' in base  # htmx would inject a <style>
    assert ".htmx-indicator" in (project_root / "static" / "app.css").read_text()


# --- request size ----------------------------------------------------------------------------


class _Endless:
    """A request body of `size` bytes, produced as it is read (never held in memory)."""

    def __init__(self, size: int, prefix: bytes):
        self.left, self.prefix = size, prefix

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        chunk, self.prefix = (self.prefix + b"A" * n)[:n], self.prefix[n:]
        self.left -= len(chunk)
        return chunk

    readline = read


def test_a_100_mb_sign_in_post_is_refused_unread_and_not_echoed(client):
    size = 100 * 1024 * 1024
    response = client.post(
        "/auth/login",
        environ_overrides={
            "wsgi.input": _Endless(size, b"email="),
            "CONTENT_LENGTH": str(size),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 413
    assert b"AAAA" not in response.data and len(response.data) < 10_000
    assert client.application.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024


# --- directory files and names ---------------------------------------------------------------


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_directory_file_that_is_not_utf8_names_its_line(app, device, tmp_path):
    data = HEADER + "a@school.example,Ana,Ruiz,student,csv\nb@school.example,B\xe9a,Li,staff,csv\n"
    latin1 = data.encode("latin-1")
    with pytest.raises(DirectoryImportError) as info:
        import_directory_csv(device, latin1)
    assert info.value.errors == ["line 3: not valid UTF-8 text; save the file as UTF-8 (CSV UTF-8)"]

    path = tmp_path / "directory.csv"
    path.write_bytes(latin1)
    result = app.test_cli_runner().invoke(
        args=["directory", "import", str(path), "--device", device.name]
    )
    assert result.exit_code == 1
    assert "line 3: not valid UTF-8" in result.output and "position" not in result.output
    assert _count(DirectoryUser) == 0

    import_directory_csv(device, ("\ufeff" + data).encode("utf-8"))  # UTF-8 with a BOM is fine
    assert _count(DirectoryUser) == 2


@pytest.mark.parametrize(
    "override",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_names_with_bidirectional_overrides_are_refused(device, override):
    rows = (
        "ok@school.example,Ok,Fine,student,csv\n"
        f"x@school.example,Eve{override}gpj.exe,Li,student,csv\n"
        f"y@school.example,Yan,{override}Wu,student,csv\n"
        f"z@school.example,Zed,Po,student,ld{override}ap\n"
    )
    with pytest.raises(DirectoryImportError) as info:
        import_directory_csv(device, HEADER + rows)
    assert info.value.errors == [
        "line 3: names must not contain bidirectional override characters",
        "line 4: names must not contain bidirectional override characters",
        "line 5: the source must not contain bidirectional override characters",
    ]
    assert _count(DirectoryUser) == 0


def test_an_integration_name_with_a_bidirectional_override_gets_a_field_error(
    auth_client, csrf_token
):
    from tests.helpers.forms import form_data

    response = auth_client.post(
        "/sis-integration/new/oneroster",
        data=form_data(csrf_token, name="District \u202eSIS"),
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
    )
    html = response.get_data(as_text=True)
    block = html.split('id="field-name"')[1].split('class="field')[0]
    assert "The name must not contain bidirectional override characters." in block
    assert _count(OneRosterIntegration) == 0
