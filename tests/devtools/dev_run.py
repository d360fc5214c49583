"""`make dev` as a user runs it: scripts/dev.py in a subprocess, on free ports, with its own
state directory, so that these tests never meet another stack on the machine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from google.cloud import tasks_v2

from devtools.processes import free_port, spawn, stop_pid_group
from devtools.stack import ROOT, Ports
from tests.waiting import wait_for

QUEUE = "projects/demo-creator/locations/us-central1/queues/video-generation"
START_TIMEOUT = 120  # a whole stack on a busy 2-core machine
STOP_TIMEOUT = 90


class DevRun:
    """One `make dev` (scripts/dev.py) run; its stdout and stderr, merged, in `lines`."""

    def __init__(self, state_dir: Path, ports: Ports, **env: str) -> None:
        self.state_dir = state_dir
        self.ports = ports
        base = {k: v for k, v in os.environ.items() if k != "FRESH"}
        self.env = {
            **base,
            "LOCAL_STATE_DIR": str(state_dir),
            **{Ports.variable(name): str(port) for name, port in ports.items()},
            "WEB_PORT": str(free_port()),  # the web console, served by make dev too
            "LOCAL_VIDEO_LATENCY_SECONDS": "1",
            **env,
        }
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def start(self) -> DevRun:
        self.process = spawn([sys.executable, "scripts/dev.py"], cwd=ROOT, env=self.env)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def logs(self, chars: int = 1500) -> str:
        """The end of make dev's output but Firestore's, for an assertion's message."""
        lines = [line for line in self.lines if not line.startswith("[firestore]")]
        return "\n".join(lines)[-chars:]

    def wait_running(self) -> DevRun:
        wait_for(
            lambda: "Local stack running" in self.output() or self.process.poll() is not None,
            timeout=START_TIMEOUT,
            interval=0.1,
        )
        assert "Local stack running" in self.output(), self.logs(3000)
        return self

    def wait_output(self, text: str, timeout: float = 60) -> None:
        wait_for(lambda: text in self.output(), timeout=timeout, interval=0.1)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"make dev still running:\n{self.output()[-3000:]}") from None

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.wait_exit()

    def command(self, *args: str) -> subprocess.CompletedProcess:
        """scripts/dev.py queue-down / queue-up (make queue-down / queue-up) for this run."""
        return subprocess.run(
            [sys.executable, "scripts/dev.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30)

    def cleanup(self) -> None:
        """Whatever happened in the test, nothing of this run stays behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        for pid in processes_of(self.state_dir):
            stop_pid_group(pid, grace=5)


def processes_of(state_dir: Path) -> list[int]:
    """The live processes started for the stack in `state_dir`: each gets LOCAL_STATE_DIR in
    its environment (make dev itself, gcloud and Java, the Cloud Tasks server, functions)."""
    needle = f"LOCAL_STATE_DIR={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def answered(call, timeout: float = 60) -> httpx.Response:
    """call() again while it answers 503 (the api's "retry shortly": on a busy machine the
    first store calls after a start can pass their deadline); the first other answer."""
    last: list[httpx.Response] = []

    def attempt() -> httpx.Response | None:
        last[:] = [call()]
        return None if last[0].status_code == 503 else last[0]

    try:
        return wait_for(attempt, timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(f"still 503 after {timeout} s: {last[0].text}") from None


def submit_video(http: httpx.Client, headers: dict[str, str], prompt: str) -> dict:
    """POST /api/generate/video (again while 503, with one Idempotency-Key); the 202 body."""
    headers = {**headers, "Idempotency-Key": f"key-{time.monotonic_ns()}"}
    submitted = answered(
        lambda: http.post("/api/generate/video", headers=headers, json={"prompt": prompt})
    )
    assert submitted.status_code == 202, submitted.text
    return submitted.json()


def task_for_later(client: tasks_v2.CloudTasksClient, run: DevRun) -> tasks_v2.Task:
    """A task of make dev's queue due in an hour: still queued when a test looks again."""
    later = client.create_task(
        parent=QUEUE,
        task=tasks_v2.Task(
            schedule_time=datetime.now(UTC) + timedelta(hours=1),
            http_request=tasks_v2.HttpRequest(url=f"{run.api}/never", body=b"kept"),
        ),
        timeout=10,
    )
    return later
