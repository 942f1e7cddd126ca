"""A sync spaces out the garbage collector's young collections while it runs, and puts
the process's setting back when it ends, however it ends (``sync.collector``)."""

from __future__ import annotations

import gc

import pytest

from sisapp.models import SyncStatus
from sisapp.sync import collector, engine


@pytest.fixture
def thresholds_seen(monkeypatch):
    seen = []
    merge = engine.merge_mirror

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold())
        return merge(*args, **kwargs)

    monkeypatch.setattr(engine, "merge_mirror", spy)
    return seen


def test_a_sync_runs_with_fewer_young_collections_and_restores_the_setting(make_integration, sync, thresholds_seen):  # fmt: skip
    before = gc.get_threshold()
    assert before[0] < collector.YOUNG  # (CPython's default is 700)
    assert sync(make_integration()).status is SyncStatus.SUCCEEDED
    assert thresholds_seen == [(collector.YOUNG, *before[1:])]
    assert gc.get_threshold() == before


def test_a_failed_sync_restores_the_setting(make_integration, sync):
    before = gc.get_threshold()
    run = sync(make_integration(secret="not-the-secret"))
    assert run.status is SyncStatus.FAILED
    assert gc.get_threshold() == before


def test_overlapping_syncs_restore_the_setting_when_the_last_ends():
    before = gc.get_threshold()
    first, second = collector.fewer_collections(), collector.fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == collector.YOUNG  # the second is still running
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_a_higher_setting_of_the_process_is_kept():
    before = gc.get_threshold()
    gc.set_threshold(500_000, *before[1:])
    try:
        with collector.fewer_collections():
            assert gc.get_threshold()[0] == 500_000
    finally:
        gc.set_threshold(*before)
