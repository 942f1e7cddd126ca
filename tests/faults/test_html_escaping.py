"""HTML from the SIS is shown escaped everywhere: school, class and user names, the error
messages and log lines that quote them, and the admin's own integration name."""

import pytest
from markupsafe import escape

from sisapp.models import SyncStatus, normalise_email
from tests.helpers.sync_state import log_lines

SCHOOL = "<img src=x onerror=alert('school')>"
UNMATCHED = "<script>alert('unmatched')</script>"
CLASS = "<b>Chemistry</b>"  # the demo district's course "<b>Chemistry</b> & Lab"
INTEGRATION = '<i>District</i> & "SIS"'
RAW = (SCHOOL, UNMATCHED, CLASS, INTEGRATION, "<script>alert(1)</script>", "<b>Bold</b>")


@pytest.fixture
def hostile_district(district):
    """The demo district with HTML in a school name and in unmatched users' names."""
    district.schools[0]["name"] = SCHOOL
    known = district.directory_emails()
    unmatched = [
        u
        for u in district.users
        if u["role"] == "student" and normalise_email(u.get("email")) not in known
    ]
    for user in unmatched[:3]:
        user["givenName"] = UNMATCHED
    district.touch()
    return district


def test_html_from_the_sis_is_escaped_on_every_page(
    app, hostile_district, sis, new_integration, sync_now, auth_client
):
    integration = new_integration(INTEGRATION)
    first = sync_now(integration)
    assert first.status is SyncStatus.SUCCEEDED, first.error_message
    sis.faults.broken_school = hostile_district.schools[0]["sourcedId"]
    partial = sync_now(integration, full=True, client_options={"max_retries": 0})
    assert partial.status is SyncStatus.PARTIAL and SCHOOL in partial.error_message
    assert any(SCHOOL in line for line in log_lines(partial.id))

    base = f"/sis-integration/{integration.id}"
    pages = {
        "list": "/sis-integration/",
        "status": f"{base}/runs/{partial.id}/status",
        "log dialog": f"{base}/log",
        "log of the first run": f"{base}/log?run={first.id}",
        "unmatched": f"{base}/unmatched",
        "exclude schools": f"{base}/exclude-schools",
        "edit": f"{base}/edit",
        "delete": f"{base}/delete",
        "classrooms": "/directory/classrooms",
        "classroom search": "/directory/classrooms?q=chemistry",
        "directory": "/directory/?q=" + SCHOOL,
    }
    shown = {}
    for name, url in pages.items():
        for headers in ({}, {"HX-Request": "true"}):
            response = auth_client.get(url, headers=headers)
            assert response.status_code == 200, name
            html = response.get_data(as_text=True)
            for raw in RAW:
                assert raw not in html, (name, raw)
            shown[name] = html

    assert str(escape(SCHOOL)) in shown["list"]  # in the partial sync's message
    assert str(escape(SCHOOL)) in shown["status"]
    assert str(escape(SCHOOL)) in shown["log dialog"]  # "reading classes ... of <school>"
    assert str(escape(SCHOOL)) in shown["exclude schools"]
    assert str(escape(UNMATCHED)) in shown["unmatched"]
    assert (
        str(escape(CLASS)) in shown["classrooms"]
        and str(escape(CLASS)) in shown["classroom search"]
    )
    assert str(escape(SCHOOL)) in shown["classrooms"]  # the classroom's school
    for name in ("list", "edit", "delete", "log dialog"):
        assert str(escape(INTEGRATION)) in shown[name], name

    # Downloads are attachments of non-HTML types: the raw text is right there.
    csv = auth_client.get(f"{base}/unmatched.csv")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    assert UNMATCHED in csv.get_data(as_text=True)
    log = auth_client.get(f"{base}/runs/{partial.id}/log.txt")
    assert log.mimetype == "text/plain" and "attachment" in log.headers["Content-Disposition"]
    assert SCHOOL in log.get_data(as_text=True)
