"""The browser tests' harness, also used by the screenshots script (tests/browser/screenshots.py):
the whole local stack with the web console on its own origin, a gate that can hold the
worker's deliveries, and Debian's Chromium launched by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from devtools.processes import free_port
from devtools.stack import LocalStack, Ports
from tests.waiting import wait_for

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
ADMIN = "admin"  # the api's default ADMIN_UIDS in local mode
# A quick "generation"; the console polls and re-checks the queue every second or two.
STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
    # 1 s polls: a poll chain's names (shared/domain/step_tasks.py) last about 1000 s.
    "VIDEO_DEADLINE_SECONDS": "900",
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
        self.let_through: set[tuple[str, str]] = set()  # (creationId, step) passing a hold
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gate.held.is_set() and not gate.lets_through(body):
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

    def lets_through(self, body: bytes) -> bool:
        try:
            task = json.loads(body)
        except ValueError:
            return False
        if not isinstance(task, dict):
            return False
        return (str(task.get("creationId")), str(task.get("step"))) in self.let_through

    def let_start(self, creation_id: str) -> None:
        """While held, the start step of this creation goes through (its generation starts,
        the creation is `processing`), and its polls stay held: it stays `processing`."""
        self.let_through.add((creation_id, "start"))

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.held.set()
        try:
            yield
        finally:
            self.held.clear()
            self.let_through.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Console:
    stack: LocalStack
    gate: TaskGate

    @property
    def url(self) -> str:
        assert self.stack.web_url is not None
        return self.stack.web_url

    @property
    def api_url(self) -> str:
        return self.stack.api_url

    def api(self, method: str, path: str, uid: str, **kwargs) -> httpx.Response:
        """A direct api call as `uid` (setting up or cleaning up, not what is tested)."""
        headers = {"Authorization": f"Bearer dev:{uid}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.api_url + path, headers=headers, timeout=30, **kwargs)


@contextlib.contextmanager
def running_console(
    state_dir: Path, settings: dict[str, str] | None = None, config: dict[str, Any] | None = None
) -> Iterator[Console]:
    """The whole local stack with its web console (on another origin, which the stack lets
    call the api), as make dev runs them; the worker's deliveries pass through a TaskGate."""
    ports = Ports.free()
    gate = TaskGate(f"http://127.0.0.1:{ports.worker}")
    settings = {**STACK_SETTINGS, "WORKER_URL": gate.url, **(settings or {})}
    try:
        with LocalStack(
            ports=ports,
            state_dir=state_dir,
            settings=settings,
            quiet=True,
            web_port=free_port(),
            web_config=config or CONSOLE_CONFIG,
        ) as stack:
            console = Console(stack, gate)
            # The api's first store calls (clients made lazily, a cold emulator) are slow and
            # may answer 503 (a store deadline): not in a test's time.
            wait_for(
                lambda: console.api("GET", "/api/me", "warm-up").status_code == 200,
                timeout=60,
                interval=0.5,
            )
            yield console
    finally:
        gate.close()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, under Playwright (its own browser download cannot run)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def fresh_uid(name: str) -> str:
    """A new dev identity (100 tokens) per test, so that balances never mix."""
    return f"{name}-{time.monotonic_ns()}"


def sign_in(page, console: Console, uid: str, path: str = "/") -> None:
    from playwright.sync_api import expect

    page.goto(console.url + path)
    page.get_by_label("Dev identity").fill(uid)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user-name")).to_have_text(uid)
