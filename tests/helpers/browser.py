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


# axe-core, vendored from npm's `axe-core` package for the tests only (never served to
# admins). It is evaluated through the DevTools protocol, which the page's
# Content-Security-Policy does not govern, so the policy stays on while axe runs.
AXE_SOURCE = next(
    (Path(__file__).resolve().parent.parent / "browser" / "vendor").glob("axe-*.min.js")
).read_text()


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
