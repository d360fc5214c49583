"""Browser tests: Debian's headless Chromium, driven by Playwright for Python, against the
whole local stack and the web console served by devtools/web_server.py on its own origin.

Playwright's own browser download cannot run here: the tests launch /usr/bin/chromium
(`apt-get install chromium`; CI installs it in .ci/run). Waiting is Playwright's
auto-waiting `expect(...)` with a timeout, never a sleep. A failing test leaves a screenshot
of each of its pages under .local/screenshots/ (the path is printed in the report).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import CHROMIUM, Console, chromium, running_console

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".local" / "screenshots"
# How long an expect(...) waits for its condition: a 2-core machine running other suites too.
EXPECT_TIMEOUT_MS = 15_000


# Package scope: the stack and the browser stop when the last browser test has run, so
# nothing of theirs (processes, Playwright's event loop in this thread) outlives them.
@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Console]:
    """The whole local stack, and the web console on another origin that the api allows."""
    with running_console(tmp_path_factory.mktemp("browser-stack")) as console:
        yield console


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` "
            "(scripts/check-tools.sh says what else is missing)",
            pytrace=False,
        )
    with chromium() as browser:
        yield browser


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash.setdefault(_FAILED, True)
    return report


def _keep_error(page, message) -> None:
    """A console error the page wrote. Chromium's own "Failed to load resource" lines are
    left out: they are the 4xx / 5xx answers a test provokes on purpose (a 503 while the
    queue is paused, a 402), which the page handles."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        page.errors.append(f"console.error: {message.text}")


@pytest.fixture
def new_page(browser, request):
    """new_page() opens a page in a fresh browser context (its own storage: its own
    sign-in). Its errors (console, uncaught) are kept in page.errors; on failure every page is
    saved as a screenshot and its path and errors are printed."""
    contexts = []
    pages = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc, p=page: p.errors.append(f"uncaught: {exc}"))
        page.on("console", lambda msg, p=page: _keep_error(p, msg))
        pages.append(page)
        return page

    yield open_page
    if request.node.stash.get(_FAILED, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for i, page in enumerate(pages):
            path = SCREENSHOTS / f"{name}-{i}-{time.strftime('%H%M%S')}.png"
            with contextlib.suppress(Exception):
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of page {i} ({page.url}): {path}")
            for line in page.errors:
                print(f"  page {i}: {line}")
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()
