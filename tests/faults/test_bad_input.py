"""Generated bad input (hypothesis) from admins: the Add/Edit dialog and the directory
CSV import never answer 500 (or crash the command) and store nothing invalid."""

from __future__ import annotations

import csv
import io

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from sisapp.extensions import db
from sisapp.models import DirectoryUser, OneRosterIntegration, UserKind
from sisapp.services.directory import DirectoryImportError, import_directory_csv, is_valid_email
from sisapp.services.integrations import data_from, validate
from tests.factories import make_integration
from tests.faults.strategies import fast, has_control, texts
from tests.helpers.sync_state import directory_rows

# --- the Add / Edit dialog ------------------------------------------------------------------

VALID_FORM = {
    "sis_vendor": "other",
    "name": "District",
    "endpoint_url": "https://sis.example.org/ims/oneroster/v1p1",
    "client_id": "client-1",
    "client_secret": "s-Secret9x",
    "sync_classes": "y",
}
any_form = st.fixed_dictionaries(
    {},
    optional={
        "sis_vendor": st.one_of(st.sampled_from(["other", "powerschool", "ellucian"]), texts),
        "name": texts,
        "endpoint_url": texts,
        "token_url": texts,
        "client_id": texts,
        "client_secret": st.builds("{}Secret9x".format, texts),  # the suffix must never show
        "sync_classes": st.sampled_from(["y", "", "n", "<x>"]),
        "sync_parents": st.sampled_from(["y", ""]),
        "relationship_type": st.one_of(st.sampled_from(["", "parent", "guardian"]), texts),
    },
)
# A valid form with one or two fields made odd: what gets past the easy checks.
near_valid_form = st.builds(
    lambda odd: {**VALID_FORM, **odd},
    st.dictionaries(
        st.sampled_from(["name", "endpoint_url", "token_url", "client_id"]),
        texts,
        min_size=1,
        max_size=2,
    ),
)
form_fields = st.one_of(near_valid_form, any_form)


def assert_stored_integrations_valid() -> None:
    for integration in db.session.scalars(select(OneRosterIntegration)):
        data = data_from(integration)
        assert validate(data, require_secret=False) == {}, data
        for value, limit in (
            (integration.name, 120),
            (integration.endpoint_url, 500),
            (integration.token_url, 500),
            (integration.client_id, 255),
        ):
            assert not has_control(value) and len(value or "") <= limit, value


@fast()
@given(fields=form_fields)
@example(fields={**VALID_FORM, "name": "a\x00b"})  # PostgreSQL refuses NUL: was a 500
@example(fields={**VALID_FORM, "endpoint_url": "https://sis.example.org/" + "p" * 600})
@example(fields={**VALID_FORM, "token_url": "https://[sis.example.org/token"})  # ValueError
@example(fields={**VALID_FORM, "client_id": "c" * 300})
def test_add_dialog_never_answers_500_and_stores_nothing_invalid(auth_client, csrf_token, fields):
    db.session.execute(delete(OneRosterIntegration))
    db.session.commit()
    response = auth_client.post(
        "/sis-integration/new/oneroster",
        data={"csrf_token": csrf_token, **fields},
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
    )
    assert response.status_code == 200
    stored = db.session.scalars(select(OneRosterIntegration)).all()
    assert bool(stored) == ("HX-Redirect" in response.headers)
    assert_stored_integrations_valid()
    assert "Secret9x" not in response.get_data(as_text=True)


@fast()
@given(fields=form_fields)
def test_edit_dialog_never_answers_500_and_keeps_the_integration_valid(
    auth_client, csrf_token, device, fields
):
    db.session.execute(delete(OneRosterIntegration))
    db.session.commit()
    integration = make_integration(device)
    response = auth_client.post(
        f"/sis-integration/{integration.id}/edit",
        data={"csrf_token": csrf_token, **fields},
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token},
    )
    assert response.status_code == 200
    assert_stored_integrations_valid()
    assert "Secret9x" not in response.get_data(as_text=True)


# --- the directory CSV import ---------------------------------------------------------------

csv_rows = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.one_of(st.emails(), texts, st.builds(" {}@Example.ORG ".format, texts)),
            "given_name": texts,
            "family_name": texts,
            "kind": st.one_of(st.sampled_from(["student", "Teacher ", "staff", "admin"]), texts),
            "source": texts,
        }
    ),
    max_size=6,
)
headers = st.one_of(
    st.just(["email", "given_name", "family_name", "kind", "source"]),
    st.permutations(["email", "given_name", "family_name", "kind", "source", "extra"]),
    st.lists(texts, max_size=5),
)


def as_csv(header: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue()


csv_documents = st.one_of(st.builds(as_csv, headers, csv_rows), texts)


@fast()
@given(document=csv_documents)
def test_directory_csv_import_refuses_or_stores_only_valid_users(app, device, tmp_path, document):
    db.session.execute(delete(DirectoryUser))
    db.session.commit()
    import_directory_csv(
        device,
        "email,given_name,family_name,kind,source\n"
        "kept@example.org,Kept,User,student,csv\nother@example.org,Other,User,teacher,csv\n",
    )
    before = directory_rows(device.id)
    try:
        import_directory_csv(device, document)
    except DirectoryImportError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)
        db.session.rollback()
        assert directory_rows(device.id) == before  # all or nothing
    for email, given_name, family, kind, source in directory_rows(device.id):
        assert is_valid_email(email) and email == email.strip().lower() and len(email) <= 254
        assert not has_control(email + given_name + family + source)
        assert len(given_name) <= 120 and len(family) <= 120 and len(source) <= 40
        assert kind in UserKind

    # The command line is how admins import: a bad file is an error message, never a crash.
    path = tmp_path / "directory.csv"
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    result = app.test_cli_runner().invoke(
        args=["directory", "import", str(path), "--device", device.name]
    )
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
