# ruff: noqa: F811 - the fixtures of test_real_sync are imported, then requested by name
"""A preview queued through the real worker beside a sync (issue 16): it never blocks the
sync, never counts as the last sync, and changes nothing; "Allow these removals" queues
a sync with the one-time consent."""

import pytest

from sisapp.extensions import db
from sisapp.models import SyncStatus, SyncTrigger
from sisapp.services import sync_runs
from sisapp.services.change_sets import allow_removals_once, latest_preview, preview_sync
from tests.helpers.processes import finish
from tests.jobs.test_real_sync import (  # noqa: F401
    district,
    integration,
    job_config,
    sis_credentials,
    stored,
)

pytestmark = pytest.mark.slow


def test_a_preview_runs_beside_a_sync_in_the_worker(app, integration, processes, redis_conn):
    first, _ = sync_runs.request_sync(integration)
    finish(processes.worker(), timeout=120)
    db.session.refresh(first)
    assert first.status == SyncStatus.SUCCEEDED
    before, last_sync = stored(integration.id), integration.last_sync_at

    preview, created = preview_sync(integration)
    assert created and preview.trigger is SyncTrigger.PREVIEW
    assert preview_sync(integration) == (preview, False)  # one preview at a time
    run, created = sync_runs.request_sync(integration)  # a preview never holds up a sync
    assert created and run.id != preview.id
    assert sync_runs.active_run(integration).id == run.id
    finish(processes.worker(), timeout=120)
    db.session.refresh(preview)
    db.session.refresh(run)
    assert preview.status == SyncStatus.PREVIEW, (preview.error_code, preview.error_message)
    assert run.status == SyncStatus.SUCCEEDED
    assert preview.changes == run.changes  # nothing changed in the SIS meanwhile
    assert sync_runs.latest_run(integration).id == run.id
    assert latest_preview(integration).id == preview.id
    db.session.refresh(integration)
    after = stored(integration.id)
    after.pop("SisOrg"), before.pop("SisOrg")  # the sync stamps each school's read time
    assert after == before and integration.last_sync_at != last_sync

    allowed, created = allow_removals_once(integration)
    assert created and integration.allow_large_removals
    finish(processes.worker(), timeout=120)
    db.session.refresh(allowed)
    db.session.refresh(integration)
    assert allowed.status == SyncStatus.SUCCEEDED and not integration.allow_large_removals
