"""A real browser against the real app: the app served on 127.0.0.1 on a free port,
a real RQ worker process, Redis, and the demo SIS over HTTP with a small district.

Chromium comes from Debian's package (/usr/bin/chromium); Playwright drives it.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sisapp import create_app
from sisapp.extensions import db
from sisapp.services.directory import import_directory_csv
from tests.conftest import (
    PASSWORD,
    TEST_QUEUE,
    TEST_REDIS_URL,
    _test_config,
    make_admin,
    make_device,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SISAPP_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"

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
    app = create_app(_test_config(_schema, RQ_QUEUE=BROWSER_QUEUE))
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
        with _suppress():
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is ProcessLookupError


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


class Screenshots:
    """Saves numbered screenshots of each step under test-artifacts/screenshots/."""

    def __init__(self, page, test_name: str):
        self.page, self.test_name, self.count = page, test_name, 0

    def __call__(self, step: str) -> Path:
        self.count += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{self.count:02d}-{step}.png"
        self.page.evaluate(
            "() => { window.__styled = new Set(document.querySelectorAll('[style]')); }"
        )
        self.page.screenshot(path=str(path), full_page=True)
        # The screenshot leaves empty style="" attributes on inputs (caret hiding); htmx
        # would copy them on its next swap, which the Content-Security-Policy refuses.
        self.page.evaluate(
            "() => document.querySelectorAll('[style]').forEach("
            "e => window.__styled.has(e) || e.removeAttribute('style'))"
        )
        print(f"screenshot: {path}")
        return path


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/sis-integration/")


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


__all__ = ["db", "sign_in", "wait_until"]


# axe-core, vendored from npm's `axe-core` package for the tests only (never served to
# admins). It is evaluated through the DevTools protocol, which the page's
# Content-Security-Policy does not govern, so the policy stays on while axe runs.
AXE_SOURCE = next((Path(__file__).parent / "vendor").glob("axe-*.min.js")).read_text()


def axe_violations(page, context: str = "document") -> list[str]:
    """axe-core's WCAG A/AA violations on what the page shows now, as readable lines."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    results = page.evaluate(
        """async (context) => {
            const root = context === "document" ? document : document.querySelector(context);
            const styled = new Set(document.querySelectorAll("[style]"));
            const r = await axe.run(root, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]});
            // axe leaves empty style="" attributes behind; htmx would copy them on its next
            // swap, which the Content-Security-Policy (rightly) refuses: tidy up after axe.
            document.querySelectorAll("[style]").forEach(e => styled.has(e) || e.removeAttribute("style"));
            return {passes: r.passes.length, violations: r.violations.map(v => v.id + ": " + v.help + " @ " + v.nodes.map(n => n.target.join(" ")).join(", "))};
        }""",
        context,
    )
    assert results["passes"] > 0, "axe-core checked nothing"
    return results["violations"]


def assert_no_axe_violations(page, state: str) -> None:
    found = axe_violations(page)
    assert found == [], f"axe-core on {state}: {found}"


def assert_no_horizontal_overflow(page, state: str) -> None:
    widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{state} scrolls sideways: {widths[0]} > {widths[1]} px"
