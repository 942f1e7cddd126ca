"""A web or worker node started with another ENCRYPTION_KEY: stored secrets cannot be
read, and every place that needs one says so with SY110 instead of a 500 or SY100."""

from cryptography.fernet import Fernet

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus
from sisapp.sync import run_sync, sync_environment_from_config
from tests.helpers.forms import form_data


def test_another_encryption_key_gives_sy110_everywhere(app, auth_client, hx, csrf_token, integration):  # fmt: skip
    app.config["ENCRYPTION_KEY"] = Fernet.generate_key().decode()

    data = form_data(csrf_token, name=integration.name, client_secret="",
                     endpoint_url=integration.endpoint_url, client_id=integration.client_id)  # fmt: skip
    tested = auth_client.post(
        f"/sis-integration/{integration.id}/test-connection", data=data, headers=hx
    )
    html = tested.get_data(as_text=True)
    assert tested.status_code == 200 and 'data-testid="test-error-code">SY110<' in html, html

    refreshed = auth_client.post(
        f"/sis-integration/{integration.id}/schools/refresh",
        data={"csrf_token": csrf_token},
        headers=hx,
    )
    assert refreshed.status_code == 200 and "Error SY110" in refreshed.get_data(as_text=True)

    run = SyncRun(integration_id=integration.id, device_id=integration.device_id)
    db.session.add(run)
    db.session.commit()
    run = run_sync(run.id, sync_environment_from_config(app.config))
    assert (run.status, run.error_code) == (SyncStatus.FAILED, "SY110")
