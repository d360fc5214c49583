"""The whole stack on one machine: Firestore emulator, local Cloud Tasks server, and the
`api` and `video_worker` functions under functions-framework.

Used by `make dev` (scripts/dev.py), the end-to-end tests and the benchmarks, so that all
three run exactly the same thing. Every process is started in its own process group and
stopped with it; nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.cloud_tasks_server.runner import CloudTasksServer
from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import stop_group

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-creator"
LOCATION = "us-central1"
QUEUE = "video-generation"
TASKS_SERVICE_ACCOUNT = "tasks-invoker@demo-creator.iam.gserviceaccount.com"  # the default


@dataclass
class Ports:
    firestore: int = 8085
    tasks: int = 8123
    tasks_http: int = 8124
    api: int = 8080
    worker: int = 8081

    @classmethod
    def from_env(cls) -> Ports:
        defaults = cls()
        return cls(
            **{
                name: int(os.environ.get(f"{name.upper()}_PORT", getattr(defaults, name)))
                for name in ("firestore", "tasks", "tasks_http", "api", "worker")
            }
        )


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    state_dir: Path = ROOT / ".local"
    settings: dict[str, str] = field(default_factory=dict)  # extra env for the functions
    fresh: bool = True
    quiet: bool = False  # send the functions' output to files under state_dir instead

    def __post_init__(self) -> None:
        self.firestore: FirestoreEmulator | None = None
        self.tasks: CloudTasksServer | None = None
        self.functions: dict[str, subprocess.Popen] = {}

    @property
    def queue_path(self) -> str:
        return f"projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.worker}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "APP_ENV": "local",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "TASKS_LOCATION": LOCATION,
            "TASKS_QUEUE": QUEUE,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports.firestore}",
            "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{self.ports.tasks}",
            "TASKS_JWKS_URL": f"http://127.0.0.1:{self.ports.tasks_http}/jwks",
            "WORKER_URL": self.worker_url,
            "PUBLIC_BASE_URL": self.api_url,
            "LOCAL_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        }

    def start(self) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.firestore = FirestoreEmulator(port=self.ports.firestore, project=PROJECT)
            self.firestore.start()
            self.start_tasks_server(fresh=self.fresh)
            for name, target, port in (
                ("api", "api", self.ports.api),
                ("worker", "video_worker", self.ports.worker),
            ):
                self.functions[name] = self._start_function(name, target, port)
            for name, url in (("api", self.api_url), ("worker", self.worker_url)):
                self._wait_http(name, url)
        except BaseException:
            self.stop()
            raise
        return self

    def start_tasks_server(self, fresh: bool = False) -> None:
        """(Re)start the local Cloud Tasks server; its SQLite state survives unless fresh."""
        self.tasks = CloudTasksServer(
            port=self.ports.tasks,
            http_port=self.ports.tasks_http,
            db_path=self.state_dir / "cloud-tasks.sqlite3",
            queues=[self.queue_path],
            fresh=fresh,
        )
        self.tasks.start()

    def schedule_reconcile(self) -> None:
        """Cloud Scheduler's part, locally: one reconcile sweep, delivered to the worker by the
        Cloud Tasks server with an OIDC token, as the scheduler's job is in production."""
        from google.cloud import tasks_v2

        if self.tasks is None:
            raise RuntimeError("the Cloud Tasks server is stopped")
        self.tasks.client().create_task(
            parent=self.queue_path,
            task=tasks_v2.Task(
                http_request=tasks_v2.HttpRequest(
                    http_method=tasks_v2.HttpMethod.POST,
                    url=f"{self.worker_url}/tasks/reconcile",
                    headers={"Content-Type": "application/json"},
                    body=b"{}",
                    oidc_token=tasks_v2.OidcToken(service_account_email=TASKS_SERVICE_ACCOUNT),
                )
            ),
            timeout=5,
        )

    def stop_tasks_server(self) -> None:
        """The outage this project exists to survive."""
        if self.tasks:
            self.tasks.stop()
            self.tasks = None

    def _start_function(self, name: str, target: str, port: int) -> subprocess.Popen:
        out = open(self.state_dir / f"{name}.log", "ab") if self.quiet else None  # noqa: SIM115
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--target",
                target,
                "--source",
                str(ROOT / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )

    def _wait_http(self, name: str, url: str, deadline_seconds: float = 60) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            process = self.functions[name]
            if process.poll() is not None:
                raise RuntimeError(
                    f"the {name} function exited with code {process.returncode}"
                    f" (see its output above or {self.state_dir}/{name}.log)"
                )
            try:
                httpx.get(url + "/ready", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the {name} function did not answer on {url} in {deadline_seconds}s")

    def stop(self) -> None:
        for process in self.functions.values():
            stop_group(process)
        self.functions.clear()
        self.stop_tasks_server()
        if self.firestore:
            self.firestore.stop()
            self.firestore = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
