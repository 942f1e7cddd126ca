"""Issue 19: "Most requests at once" per integration (some SIS vendors ask for 5 or
fewer), in the Add/Edit dialog and on ``flask integration add|edit``; blank is the
deployment's SYNC_CONCURRENCY, and the sync's client reads with the stored cap."""

import pytest
from sqlalchemy import select

from sisapp.extensions import db
from sisapp.models import OneRosterIntegration
from sisapp.sync.environment import sync_environment_from_config
from tests.factories import make_integration
from tests.helpers.forms import form_data


def _stored() -> OneRosterIntegration:
    db.session.expire_all()
    return db.session.scalar(select(OneRosterIntegration))


def test_dialog_shows_the_field_with_its_hint_and_default(auth_client, app):
    html = auth_client.get(
        "/sis-integration/new/oneroster", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<label for="max_concurrency">Most requests at once</label>' in html
    assert 'id="max_concurrency-help"' in html and "Some SIS vendors ask for 5 or fewer" in html
    tag = html[html.index('id="max_concurrency"') - 200 : html.index('id="max_concurrency"') + 300]
    assert 'type="number"' in tag and 'min="1"' in tag and 'max="32"' in tag
    assert f'placeholder="Default: {app.config["SYNC_CONCURRENCY"]}"' in tag
    # After the sync options, before Test Connection.
    assert html.index('id="relationship_type"') < html.index('id="max_concurrency"')
    assert html.index('id="max_concurrency"') < html.index('data-testid="test-connection"')


def test_add_saves_the_cap_and_blank_means_default(auth_client, csrf_token, hx):
    response = auth_client.post(
        "/sis-integration/new/oneroster",
        data=form_data(csrf_token, max_concurrency="5"),
        headers=hx,
    )
    assert response.headers.get("HX-Redirect") == "/sis-integration/"
    assert _stored().max_concurrency == 5

    db.session.delete(_stored())
    db.session.commit()
    response = auth_client.post(
        "/sis-integration/new/oneroster", data=form_data(csrf_token, max_concurrency=""), headers=hx
    )
    assert response.headers.get("HX-Redirect") == "/sis-integration/"
    assert _stored().max_concurrency is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "Choose between 1 and 32 requests at once"),
        ("33", "Choose between 1 and 32 requests at once"),
        ("-4", "Choose between 1 and 32 requests at once"),
        ("five", "Not a valid integer value"),
    ],
)
def test_out_of_range_or_not_a_number_is_refused(auth_client, csrf_token, hx, value, message):
    response = auth_client.post(
        "/sis-integration/new/oneroster",
        data=form_data(csrf_token, max_concurrency=value),
        headers=hx,
    )
    html = response.get_data(as_text=True)
    assert "HX-Redirect" not in response.headers and message in html
    assert 'id="max_concurrency-error"' in html and 'aria-invalid="true"' in html
    assert _stored() is None


def test_edit_shows_stored_value_changes_it_and_clears_it(auth_client, csrf_token, hx, device):
    integration = make_integration(device, max_concurrency=4)
    url = f"/sis-integration/{integration.id}/edit"
    html = auth_client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    tag = html[html.index('id="max_concurrency"') - 200 : html.index('id="max_concurrency"') + 300]
    assert 'value="4"' in tag

    fields = {"name": integration.name, "client_secret": ""}
    response = auth_client.post(url, data=form_data(csrf_token, max_concurrency="3", **fields), headers=hx)  # fmt: skip
    assert "HX-Redirect" in response.headers, response.get_data(as_text=True)
    assert _stored().max_concurrency == 3
    response = auth_client.post(url, data=form_data(csrf_token, max_concurrency="", **fields), headers=hx)  # fmt: skip
    assert "HX-Redirect" in response.headers
    assert _stored().max_concurrency is None


def test_the_sync_reads_with_the_stored_cap(app, device):
    integration = make_integration(device, max_concurrency=3)
    env = sync_environment_from_config(app.config)
    assert env.client_settings(integration).concurrency == 3
    integration.max_concurrency = None
    assert env.client_settings(integration).concurrency == app.config["SYNC_CONCURRENCY"]


def _cli(app, *args):
    runner = app.test_cli_runner()
    return runner.invoke(args=list(args), env={"SISAPP_CLIENT_SECRET": "cli-secret-123"})


def test_cli_add_and_edit_max_concurrency(app, device):
    base = ["integration", "add", "--device", device.name, "--name", "Capped", "--sis", "other",
            "--endpoint", "https://sis.example.org/ims/oneroster/v1p1", "--client-id", "c-1"]  # fmt: skip
    result = _cli(app, *base, "--max-concurrency", "5")
    assert result.exit_code == 0, result.output
    iid = int(result.output.strip().splitlines()[-1])
    assert _stored().max_concurrency == 5

    result = _cli(app, "integration", "edit", str(iid), "--max-concurrency", "2")
    assert result.exit_code == 0, result.output
    assert _stored().max_concurrency == 2
    result = _cli(app, "integration", "edit", str(iid), "--name", "Renamed")
    assert result.exit_code == 0 and _stored().max_concurrency == 2  # untouched when not named
    result = _cli(app, "integration", "edit", str(iid), "--max-concurrency", "40")
    assert result.exit_code != 0 and "between 1 and 32" in result.output
    assert _stored().max_concurrency == 2
    result = _cli(app, "integration", "edit", str(iid), "--max-concurrency", "0")
    assert result.exit_code == 0, result.output
    assert _stored().max_concurrency is None

    refused = _cli(app, *base, "--name", "Too many", "--max-concurrency", "33")
    assert refused.exit_code != 0 and "between 1 and 32" in refused.output
