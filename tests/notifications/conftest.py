"""Fixtures of the sync-email tests: a real SMTP server (aiosmtpd) on 127.0.0.1, real
`flask worker` processes (from tests/jobs) that run a fake sync and the email jobs, and
two devices whose admins may or may not want the emails."""

from __future__ import annotations

import pytest

import tests.jobs.conftest as job_fixtures
from sisapp.extensions import db
from tests.helpers.app import make_admin, make_device
from tests.helpers.integrations import make_integration
from tests.helpers.mail import SmtpServer

processes = job_fixtures.processes
redis_conn = job_fixtures.redis_conn
queue_name = job_fixtures.queue_name

FAKE_RUNNER = "tests.notifications.fakes:run_sync"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def job_config():
    return {
        "SYNC_RUNNER": FAKE_RUNNER,
        "SYNC_ENVIRONMENT": "none",
        "SERVER_URL": "https://sis.example",
    }


@pytest.fixture
def app_config(queue_name, job_config):
    return {"RQ_QUEUE": queue_name, **job_config}


@pytest.fixture
def school(app):
    """Northside (two admins who want emails, one who switched them off) and Southside
    (one admin who wants them), each with an integration."""
    north, south = make_device("Northside High"), make_device("Southside Academy")
    admins = {
        "ann": make_admin(north, "ann@northside.example"),
        "bob": make_admin(north, "bob@northside.example"),
        "off": make_admin(north, "quiet@northside.example"),
        "sue": make_admin(south, "sue@southside.example"),
    }
    admins["off"].notify_sync_results = False
    db.session.commit()
    return {
        "north": north,
        "south": south,
        "admins": admins,
        "integration": make_integration(north, "Northside PowerSchool"),
        "other_integration": make_integration(south, "Southside Infinite Campus"),
    }
