"""A real browser against the real app: the app served on 127.0.0.1 on a free port,
a real RQ worker process, Redis, and the demo SIS over HTTP with a small district.

Chromium comes from Debian's package (/usr/bin/chromium); Playwright drives it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sisapp import create_app
from sisapp.extensions import db
from sisapp.services.directory import import_directory_csv
from tests.helpers.app import TEST_QUEUE, TEST_REDIS_URL, make_admin, make_device, test_config
from tests.helpers.browser import ARTIFACTS, Screenshots

CHROMIUM = "/usr/bin/chromium"

if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture(scope="session")
def demo_sis():
    from sisapp.demo_sis import DemoSISServer, DistrictSpec, Faults, generate_district

    district = generate_district(DistrictSpec(schools=3, students=240, seed=7))
    server = DemoSISServer(district, faults=Faults(), port=0).start()
    yield server
    server.stop()


# The browser's worker takes jobs from a queue of its own, so it never picks up
# runs that other test modules queue on purpose.
BROWSER_QUEUE = f"{TEST_QUEUE}-browser"


@pytest.fixture
def app_config():
    return {"RQ_QUEUE": BROWSER_QUEUE}


@pytest.fixture(scope="module")
def live_server(_schema):
    """The app in a thread on a free port, plus one RQ worker process."""
    app = create_app(test_config(_schema, RQ_QUEUE=BROWSER_QUEUE))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = dict(
        os.environ,
        SISAPP_DATABASE_URL=_schema,
        SISAPP_SECRET_KEY=app.config["SECRET_KEY"],
        SISAPP_ENCRYPTION_KEY=app.config["ENCRYPTION_KEY"],
        SISAPP_ALLOW_PRIVATE_SIS_URLS="1",
        SISAPP_RQ_QUEUE=BROWSER_QUEUE,
        REDIS_URL=TEST_REDIS_URL,
        # Small pages, two at a time: with the demo SIS's latency on, a sync lasts
        # long enough to watch its progress and to cancel it.
        SISAPP_SYNC_PAGE_SIZE="25",
        SISAPP_SYNC_CONCURRENCY="2",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        env=env,
        start_new_session=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()  # close the pool now, not whenever the GC gets to it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def school(app, demo_sis, tmp_path):
    """A device with an admin and the demo district's directory imported."""
    device = make_device("Demo District")
    admin = make_admin(device, "it@demo-district.example")
    csv_path = tmp_path / "directory.csv"
    demo_sis.district.write_directory_csv(csv_path)
    import_directory_csv(device, csv_path.read_text())
    return {"device": device, "admin": admin}


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.shots = Screenshots(page, request.node.name)
    yield page
    context.close()
