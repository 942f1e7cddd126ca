"""The demo SIS that sync tests run against: a live server, its district's directory
imported on a device, integrations on it, and one sync run in the foreground."""

from __future__ import annotations

from contextlib import contextmanager

from sisapp.demo_sis import DemoSISServer
from sisapp.extensions import db
from sisapp.models import SyncRun
from sisapp.services.directory import import_directory_csv
from sisapp.services.integrations import IntegrationData, create_integration
from sisapp.sync import SyncEnvironment, run_sync


@contextmanager
def running_sis(district, client_id: str, client_secret: str):
    """The demo SIS serving `district` on a free port, stopped on exit."""
    server = DemoSISServer(district, client_id=client_id, client_secret=client_secret).start()
    try:
        yield server
    finally:
        server.stop()


def import_directory(device, district, tmp_path):
    """The device's directory, imported from the district's CSV (as an admin would)."""
    path = tmp_path / "directory.csv"
    district.write_directory_csv(path)
    import_directory_csv(device, path.read_text())
    return device


def add_integration(device, sis, box, client_id: str, client_secret: str, **options):
    """An integration of the device on the demo SIS, created through the service
    (OAuth 2 unless `oauth1=True`; `name` defaults to "Demo SIS")."""
    oauth1 = options.pop("oauth1", False)
    data = IntegrationData(
        name=options.pop("name", "Demo SIS"),
        sis_vendor="other",
        endpoint_url=sis.root_url,
        token_url=None if oauth1 else sis.token_url,
        client_id=client_id,
        client_secret=client_secret,
        **options,
    )
    return create_integration(device.id, data, box)


def sync_in_foreground(integration, full: bool, settings: dict) -> SyncRun:
    """Record a run of the integration and run it in this process; returns the run."""
    record = SyncRun(integration_id=integration.id, device_id=integration.device_id, full=full)
    db.session.add(record)
    db.session.commit()
    return run_sync(record.id, SyncEnvironment(**settings))
