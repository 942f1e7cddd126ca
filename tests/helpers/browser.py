"""What the browser tests do in a page: screenshots of each step, signing in, waiting
for a condition."""

import os
import time
from pathlib import Path

from tests.helpers.app import PASSWORD

ARTIFACTS = Path(os.environ.get("SISAPP_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"


class Screenshots:
    """Saves numbered screenshots of each step under test-artifacts/screenshots/."""

    def __init__(self, page, test_name: str):
        self.page, self.test_name, self.count = page, test_name, 0

    def __call__(self, step: str) -> Path:
        self.count += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
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
