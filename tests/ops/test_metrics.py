"""/metrics: the token rules, and every sample equal to what the database and Redis hold
after a set of runs with known outcomes, triggers, durations and records read."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue

from sisapp.extensions import db
from sisapp.models import SyncRun, SyncStatus, SyncTrigger
from sisapp.models.types import utcnow
from sisapp.services.metrics import DURATION_BUCKETS
from tests.helpers.app import make_device
from tests.helpers.integrations import make_integration
from tests.helpers.ops import TOKEN, register_worker

AUTH = {"Authorization": f"Bearer {TOKEN}"}

# (status, trigger, seconds it ran or None if it never started, records read)
RUNS = [
    (SyncStatus.SUCCEEDED, SyncTrigger.SCHEDULED, 30, 1200),
    (SyncStatus.SUCCEEDED, SyncTrigger.SCHEDULED, 60, 800),  # on a bucket bound: le="60"
    (SyncStatus.SUCCEEDED, SyncTrigger.MANUAL, 3600, 50_000),
    (SyncStatus.SUCCEEDED, SyncTrigger.CLI, 14_000, 900_000),
    (SyncStatus.FAILED, SyncTrigger.SCHEDULED, 61, 10),
    (SyncStatus.FAILED, SyncTrigger.MANUAL, 250.5, 0),
    (SyncStatus.PARTIAL, SyncTrigger.SCHEDULED, 5000, 70_000),
    (SyncStatus.PARTIAL, SyncTrigger.SCHEDULED, 50_000, 3),
    (SyncStatus.CANCELLED, SyncTrigger.MANUAL, None, 0),  # cancelled before it started
    (SyncStatus.CANCELLED, SyncTrigger.MANUAL, 900, 42),
]


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} of one authorised scrape."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_is_404_without_a_configured_token(app, client):
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_metrics_is_401_with_a_missing_or_wrong_token(client, headers, caplog):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert b"sisapp_" not in response.data
    assert TOKEN not in response.get_data(as_text=True)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_a_numeric_looking_token_from_the_environment_still_matches(app, client, monkeypatch):
    monkeypatch.setenv("SISAPP_METRICS_TOKEN", "1234567890")
    app.config["METRICS_TOKEN"] = 1234567890  # what from_prefixed_env makes of it
    headers = {"Authorization": "Bearer 1234567890"}
    assert client.get("/metrics", headers=headers).status_code == 200


def _add_runs(integrations) -> dict:
    """The RUNS spread over integrations (one active run each at most); returns what the
    metrics must say, worked out here from the inputs rather than by the app."""
    now = utcnow().replace(microsecond=0)
    finished_at = {}
    for n, (status, trigger, seconds, read) in enumerate(RUNS):
        integration = integrations[n % 2]
        end = now - timedelta(hours=len(RUNS) - n)
        run = SyncRun(
            integration_id=integration.id,
            device_id=integration.device_id,
            trigger=trigger,
            status=status,
            records_read=read,
            queued_at=end - timedelta(seconds=(seconds or 0) + 5),
            started_at=None if seconds is None else end - timedelta(seconds=seconds),
            finished_at=end,
        )
        db.session.add(run)
        if status is SyncStatus.SUCCEEDED:
            finished_at[integration.id] = end  # runs are added oldest first
    # Active runs on the other integrations: one queued, one running.
    for integration, status in ((integrations[2], "queued"), (integrations[3], "running")):
        db.session.add(
            SyncRun(
                integration_id=integration.id,
                device_id=integration.device_id,
                trigger=SyncTrigger.SCHEDULED,
                status=SyncStatus(status),
                records_read=7,
                started_at=now if status == "running" else None,
            )
        )
    db.session.commit()
    return finished_at


def test_each_sample_equals_what_the_database_and_redis_hold(app, client, own_redis, device):
    other = make_device("Eastside College")
    integrations = [make_integration(device, f"SIS {n}") for n in range(3)]
    integrations.append(make_integration(other, "Other SIS"))
    last_success = _add_runs(integrations)
    connection = Redis.from_url(own_redis.url)
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    for n in range(3):
        queue.enqueue("os.getpid", job_id=f"ops-test-{n}")
    Queue(f"{app.config['RQ_QUEUE']}-mail", connection=connection).enqueue("os.getpid")
    register_worker(app)
    register_worker(app, heartbeat_age=app.config["WORKER_HEARTBEAT_MAX_AGE"] + 30)  # silent

    before = utcnow()
    samples = scrape(client)
    after = utcnow()

    expected_runs = {
        (("status", s.value), ("trigger", t.value)): 0.0
        for s in (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL, SyncStatus.FAILED, SyncStatus.CANCELLED)
        for t in SyncTrigger
    }
    for status, trigger, _seconds, _read in RUNS:
        expected_runs[(("status", status.value), ("trigger", trigger.value))] += 1
    assert samples["sisapp_sync_runs_total"] == expected_runs
    assert samples["sisapp_sync_records_read_total"] == {(): sum(r[3] for r in RUNS) + 14}
    assert samples["sisapp_sync_runs_active"] == {
        (("status", "queued"),): 1.0,
        (("status", "running"),): 1.0,
    }

    durations = [r[2] for r in RUNS if r[2] is not None]
    buckets = samples["sisapp_sync_duration_seconds_bucket"]
    assert buckets == {
        **{(("le", str(float(b))),): sum(d <= b for d in durations) for b in DURATION_BUCKETS},
        (("le", "+Inf"),): len(durations),
    }
    assert buckets[(("le", "60.0"),)] == 2  # 60 s itself is in le="60"
    assert samples["sisapp_sync_duration_seconds_count"] == {(): len(durations)}
    assert samples["sisapp_sync_duration_seconds_sum"][()] == pytest.approx(sum(durations))

    ages = samples["sisapp_integration_last_success_age_seconds"]
    assert set(ages) == {
        (("device_id", str(i.device_id)), ("integration_id", str(i.id))) for i in integrations
    }
    for integration in integrations:
        since = last_success.get(integration.id, integration.created_at)
        age = ages[
            (("device_id", str(integration.device_id)), ("integration_id", str(integration.id)))
        ]
        assert (before - since).total_seconds() - 1 <= age <= (after - since).total_seconds() + 1
    assert integrations[2].id not in last_success  # never succeeded: age since it was added

    assert samples["sisapp_redis_up"] == {(): 1.0}
    assert samples["sisapp_queue_depth"] == {
        (("queue", app.config["RQ_QUEUE"]),): 3.0,
        (("queue", f"{app.config['RQ_QUEUE']}-mail"),): 1.0,
    }
    assert samples["sisapp_workers_live"] == {(): 1.0}


def test_every_process_answers_the_same(app, client, own_redis, device):
    """Two apps (two gunicorn processes) scrape the same figures: nothing is per-process."""
    from sisapp import create_app

    integration = make_integration(device)
    _add_runs([integration, integration, *[make_integration(device, f"x{n}") for n in range(2)]])
    second = create_app({**app.config})
    first, other = scrape(client), scrape(second.test_client())
    with second.app_context():
        db.engine.dispose()
    age = "sisapp_integration_last_success_age_seconds"
    first.pop(age), other.pop(age)  # read a moment apart
    assert first == other


def test_no_name_or_email_in_the_labels(app, client, own_redis, device, admin):
    make_integration(device, "Secret-Named District SIS")
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert "Secret-Named" not in text and admin.email not in text
    assert device.name not in text


def test_without_redis_the_database_metrics_still_answer(app, client, own_redis, device):
    own_redis.stop()
    samples = scrape(client)
    assert samples["sisapp_redis_up"] == {(): 0.0}
    assert "sisapp_queue_depth" not in samples and "sisapp_workers_live" not in samples
    assert "sisapp_sync_runs_total" in samples


def test_metrics_need_no_sign_in_and_no_csrf_token(app, client, own_redis, caplog):
    caplog.set_level(logging.INFO)
    assert client.get("/metrics", headers=AUTH).status_code == 200
    assert client.post("/metrics", headers=AUTH).status_code == 405


def test_a_scrape_without_the_database_answers_503_and_says_nothing_of_it(tmp_path, caplog):
    from sisapp import create_app
    from tests.helpers.app import test_config as _test_config

    url = f"sqlite:///{tmp_path / 'missing' / 'sisapp.db'}"
    other = create_app(_test_config(url, METRICS_TOKEN=TOKEN))
    response = other.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "database unavailable\n"
    assert "missing" not in caplog.text


def test_schedule_fit_per_region_is_what_the_scheduler_recorded(app, client, own_redis, device):
    """The scheduler records each region's fit (as its catch-up round does); a scrape
    shows the planner's figures without planning anything itself."""
    from sisapp import scheduler
    from sisapp.models import Region
    from sisapp.schedule import planner, regional

    app.config.update(SYNC_WORKER_CAPACITY=1, SYNC_DEFAULT_DURATION=4 * 3600)
    for k in range(8):  # 32 hours of US syncs on one worker: the day cannot fit
        make_integration(device, f"SIS {k}")
    now = utcnow()
    scheduler.tick(scheduler.make_scheduler(), now, sweep=False)
    samples = scrape(client)
    settings = planner.PlanSettings.from_config(app.config)
    for region in Region:
        slot = regional.open_slot(region, now) or regional.next_slot(region, now)
        fit = planner.day_fit(region, slot, settings)
        label = (("region", region.value),)
        assert samples["sisapp_schedule_overflow_seconds"][label] == (
            fit.overflow[region].total_seconds()
        )
        assert samples["sisapp_schedule_workers_needed"][label] == fit.workers_needed
    assert samples["sisapp_schedule_overflow_seconds"][(("region", device.region.value),)] > 0
    assert samples["sisapp_schedule_workers_needed"][(("region", device.region.value),)] > 1


def test_a_scrape_never_plans_and_shows_no_fit_nobody_recorded(
    app, client, own_redis, device, monkeypatch
):
    from sisapp.schedule import planner

    make_integration(device)

    def no_planning(*args, **kwargs):
        raise AssertionError("a scrape planned the day")

    monkeypatch.setattr(planner, "day_fit", no_planning)
    monkeypatch.setattr(planner, "plan", no_planning)
    samples = scrape(client)
    assert "sisapp_schedule_overflow_seconds" not in samples
    assert "sisapp_schedule_workers_needed" not in samples
    assert samples["sisapp_redis_up"] == {(): 1.0}


def test_a_recorded_fit_expires_when_no_scheduler_renews_it(app, client, own_redis, device):
    from sisapp import queue, scheduler
    from sisapp.models import Region

    app.config["CATCHUP_INTERVAL"] = 300
    make_integration(device)
    scheduler.record_fits()
    connection = Redis.from_url(own_redis.url)
    for region in Region:
        assert 3000 < connection.ttl(queue.schedule_fit_key(region.value)) <= 3600
    connection.delete(queue.schedule_fit_key(device.region.value))
    samples = scrape(client)["sisapp_schedule_overflow_seconds"]
    assert (("region", device.region.value),) not in samples
    assert len(samples) == len(Region) - 1


def test_the_last_success_text_is_what_prometheus_client_writes(app, own_redis, device):
    """The hand-written family parses to the same samples as prometheus_client's."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from sisapp.services import metrics, run_stats

    integrations = [make_integration(device, f"SIS {n}") for n in range(4)]
    _add_runs(integrations)
    now = utcnow()
    with db.engine.connect() as conn:
        totals = run_stats.read_totals(conn, 0)
        ours = metrics.last_success_text(conn, metrics.IntegrationLines(), totals, now)
    family = GaugeMetricFamily(
        metrics.AGE_NAME, metrics.AGE_HELP, labels=["integration_id", "device_id"]
    )
    for integration in integrations:
        since = totals.last_success.get(integration.id, integration.created_at)
        family.add_metric(
            [str(integration.id), str(integration.device_id)], (now - since).total_seconds()
        )

    class One:
        def collect(self):
            return [family]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())
    theirs = generate_latest(registry)
    parsed = [list(text_string_to_metric_families(t.decode())) for t in (ours, theirs)]
    assert parsed[0] == parsed[1]
    assert len(parsed[0][0].samples) == len(integrations)


def test_integrations_added_or_removed_between_scrapes_are_seen(app, client, own_redis, device):
    first = make_integration(device, "First")
    name = "sisapp_integration_last_success_age_seconds"
    assert {dict(k)["integration_id"] for k in scrape(client)[name]} == {str(first.id)}
    second = make_integration(device, "Second")
    assert {dict(k)["integration_id"] for k in scrape(client)[name]} == {
        str(first.id),
        str(second.id),
    }
    db.session.delete(first)
    db.session.commit()
    assert {dict(k)["integration_id"] for k in scrape(client)[name]} == {str(second.id)}
