"""Browser tests: Debian's headless Chromium, driven by Playwright for Python, against the
whole local stack and the web console served by devtools/web_server.py on its own origin.

Playwright's own browser download cannot run here: the tests launch /usr/bin/chromium
(`apt-get install chromium`; CI installs it in .ci/run). Waiting is Playwright's
auto-waiting `expect(...)` with a timeout, never a sleep. A failing test leaves a screenshot
of each of its pages under .local/screenshots/ (the path is printed in the report).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from devtools.processes import free_port
from devtools.stack import LocalStack, Ports
from devtools.web_server import WebServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".local" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# How long an expect(...) waits for its condition: a 2-core machine running other suites too.
EXPECT_TIMEOUT_MS = 15_000
ADMIN = "admin"  # the api's default ADMIN_UIDS in local mode
# A quick "generation"; the console polls and re-checks the queue every second or two.
STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
}
CONSOLE_CONFIG = {
    "pollSeconds": 1,
    "dashboardRefreshSeconds": 2,
    "queueHealth": {"intervalSeconds": 1, "retrySeconds": 1, "maxIntervalSeconds": 2},
}


class TaskGate:
    """Between the Cloud Tasks server and the worker: forwards each delivery, or answers 503
    while `held` (Cloud Tasks then retries it later), so that a video can be kept `pending`
    on purpose, e.g. to cancel it before its generation starts."""

    def __init__(self, worker_url: str) -> None:
        self.worker_url = worker_url
        self.held = threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gate.held.is_set():
                    self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                forwarded = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                try:
                    answer = httpx.post(
                        gate.worker_url + self.path, content=body, headers=forwarded, timeout=120
                    )
                    status, content = answer.status_code, answer.content
                except httpx.TransportError:
                    status, content = HTTPStatus.BAD_GATEWAY, b""
                with contextlib.suppress(ConnectionError):  # the caller gave up
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.held.set()
        try:
            yield
        finally:
            self.held.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Console:
    stack: LocalStack
    web: WebServer
    gate: TaskGate

    @property
    def url(self) -> str:
        return self.web.url

    @property
    def api_url(self) -> str:
        return self.stack.api_url

    def api(self, method: str, path: str, uid: str, **kwargs) -> httpx.Response:
        """A direct api call as `uid` (setting up or cleaning up, not what is tested)."""
        headers = {"Authorization": f"Bearer dev:{uid}"}
        return httpx.request(method, self.api_url + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Console]:
    """The whole local stack, and the web console on another origin that the api allows."""
    web_port = free_port()
    origin = f"http://127.0.0.1:{web_port}"
    ports = Ports.free()
    gate = TaskGate(f"http://127.0.0.1:{ports.worker}")
    settings = {**STACK_SETTINGS, "ALLOWED_ORIGINS": origin, "WORKER_URL": gate.url}
    try:
        with (
            LocalStack(
                ports=ports,
                state_dir=tmp_path_factory.mktemp("browser-stack"),
                settings=settings,
                quiet=True,
            ) as running,
            WebServer(web_port, running.api_url, config=CONSOLE_CONFIG) as web,
        ):
            console = Console(running, web, gate)
            # The api's first store call (clients made lazily) is slow: not in a test's time.
            console.api("GET", "/api/me", "warm-up").raise_for_status()
            yield console
    finally:
        gate.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` "
            "(scripts/check-tools.sh says what else is missing)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash.setdefault(_FAILED, True)
    return report


@pytest.fixture
def new_page(browser, request):
    """new_page() opens a page in a fresh browser context (its own storage: its own
    sign-in). Console errors and uncaught exceptions are kept; on failure every page is
    saved as a screenshot and its path and errors are printed."""
    contexts = []
    pages = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc, p=page: p.errors.append(f"uncaught: {exc}"))
        page.on(
            "console",
            lambda msg, p=page: (
                p.errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None
            ),
        )
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


def fresh_uid(name: str) -> str:
    """A new dev identity (100 tokens) per test, so that balances never mix."""
    return f"{name}-{time.monotonic_ns()}"


def sign_in(page, console: Console, uid: str, path: str = "/") -> None:
    from playwright.sync_api import expect

    page.goto(console.url + path)
    page.get_by_label("Dev identity").fill(uid)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user-name")).to_have_text(uid)
