"""A queue of the test's own and its Redis clean-up, as fixtures: the job and fault
suites both import them into their conftest (each keeps its own `job_config`)."""

import uuid

import pytest
from redis import Redis
from rq_scheduler import Scheduler

from tests.helpers.app import TEST_REDIS_URL


@pytest.fixture
def queue_name():
    return f"sisapp-test-jobs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app_config(queue_name, job_config):
    return {"RQ_QUEUE": queue_name, **job_config}


@pytest.fixture
def redis_conn(queue_name):
    conn = Redis.from_url(TEST_REDIS_URL)
    yield conn
    scheduler = Scheduler(connection=conn)  # one schedule for every queue on this Redis
    for job in list(scheduler.get_jobs()):
        if job.origin == queue_name:
            scheduler.cancel(job)
    for key in conn.scan_iter(match=f"*{queue_name}*", count=1000):
        conn.delete(key)
    for key in conn.scan_iter(match=f"rq:job:sisapp-{queue_name}*", count=1000):
        conn.delete(key)
    conn.close()
