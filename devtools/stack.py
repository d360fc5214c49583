"""The whole stack on one machine: Firestore emulator, local Cloud Tasks server, and the
`api` and `video_worker` functions under functions-framework; with `web_port`, also the web
console (devtools/web_server.py, a thread of this process).

Used by `make dev` (scripts/dev.py), the end-to-end tests and the benchmarks, so that all
three run exactly the same thing. Every process is started in its own process group and
stopped with it; nothing is left behind.

Under `state_dir`:
    firestore/            the Firestore export, when `durable` (loaded at start, written at stop)
    cloud-tasks.sqlite3   the Cloud Tasks server's tasks and queues (kept unless `fresh`)
    media/, generator/    local media and the local video generator's operations
    <name>.log            each process's output: api, worker, tasks, firestore (web: requests)
    run/<name>.pid        the pid of each process (and of `make dev`), checked before use
    run/queue-down        present while the queue is down (make queue-down, or the server
                          ended on its own) until `make queue-up`
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

from devtools.cloud_tasks_server.iam_terraform import tasks_identity
from devtools.cloud_tasks_server.runner import CloudTasksServer
from devtools.firestore_emulator import FirestoreEmulator
from devtools.processes import (
    port_in_use,
    process_command,
    pump,
    read_pid_file,
    remove_pid_file,
    say,
    spawn,
    stop_group,
    stop_pid_group,
    write_pid_file,
)
from devtools.queue_policy import retry_config, video_queue_retry_policy
from devtools.web_server import WebServer

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo-creator"
LOCATION = "us-central1"
QUEUE = "video-generation"
START_QUEUE = "video-start"  # start steps only, paced at VEO_STARTS_PER_MINUTE (queue.tf)
DEFAULT_STARTS_PER_MINUTE = 10.0  # shared/config.py's default
TASKS_SERVICE_ACCOUNT = "tasks-invoker@demo-creator.iam.gserviceaccount.com"  # the default
TASKS_DB = "cloud-tasks.sqlite3"
TASKS_COMMAND = "devtools.cloud_tasks_server"  # in the server's command line
NAMES = ("firestore", "tasks", "api", "worker")  # the processes, in start order
FUNCTIONS = {"api": "api", "worker": "video_worker"}  # process name: function target


class PortTaken(RuntimeError):
    """A port of the stack cannot be bound; nothing was started."""


@dataclass
class Ports:
    firestore: int = 8085
    tasks: int = 8123
    tasks_http: int = 8124
    api: int = 8080
    worker: int = 8081

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable that moves the port `name`, e.g. API_PORT."""
        return f"{name.upper()}_PORT"

    @classmethod
    def from_env(cls) -> Ports:
        """Ports from FIRESTORE_PORT, TASKS_PORT, TASKS_HTTP_PORT, API_PORT and WORKER_PORT;
        ValueError naming the variable when one is not a port number."""
        values = {}
        for port in fields(cls):
            variable = cls.variable(port.name)
            raw = os.environ.get(variable, str(port.default))
            try:
                values[port.name] = int(raw)
            except ValueError:
                raise ValueError(f"{variable}={raw!r} is not a port number") from None
            if not 0 < values[port.name] < 65536:
                raise ValueError(f"{variable}={raw} is not a port number (1..65535)")
        return cls(**values)

    @classmethod
    def free(cls) -> Ports:
        """Five ports that were free a moment ago (tests and benchmarks)."""
        from devtools.processes import free_port

        return cls(*(free_port() for _ in fields(cls)))

    def items(self) -> list[tuple[str, int]]:
        return [(port.name, getattr(self, port.name)) for port in fields(self)]


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    state_dir: Path = ROOT / ".local"
    settings: dict[str, str] = field(default_factory=dict)  # extra env for the functions
    fresh: bool = True  # start from empty stores (Firestore, Cloud Tasks, media, generator)
    durable: bool = False  # keep Firestore's documents in state_dir across stops
    quiet: bool = False  # output to <state_dir>/<name>.log only, not also `[name] ...` on stdout
    web_port: int | None = None  # serve the web console there (make dev: WEB_PORT, 8090)
    web_config: dict[str, Any] = field(default_factory=dict)  # over its config.json's defaults
    # The Cloud Tasks server grants each function what this Terraform grants its account.
    iam_from: Path | None = ROOT / "terraform"

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.firestore: FirestoreEmulator | None = None
        self.tasks: CloudTasksServer | None = None
        self.functions: dict[str, subprocess.Popen[str]] = {}
        self.web: WebServer | None = None

    @property
    def queue_path(self) -> str:
        return f"projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE}"

    @property
    def start_queue_path(self) -> str:
        return f"projects/{PROJECT}/locations/{LOCATION}/queues/{START_QUEUE}"

    @property
    def starts_per_minute(self) -> float:
        """The start queue's pace: VEO_STARTS_PER_MINUTE of the stack's settings or env."""
        raw = self.settings.get("VEO_STARTS_PER_MINUTE") or os.environ.get("VEO_STARTS_PER_MINUTE")
        return float(raw) if raw else DEFAULT_STARTS_PER_MINUTE

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.worker}"

    @property
    def web_url(self) -> str | None:
        return f"http://127.0.0.1:{self.web_port}" if self.web_port else None

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def queue_down_marker(self) -> Path:
        return self.run_dir / "queue-down"

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "APP_ENV": "local",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "TASKS_LOCATION": LOCATION,
            "TASKS_QUEUE": QUEUE,
            "TASKS_START_QUEUE": START_QUEUE,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports.firestore}",
            "CLOUD_TASKS_EMULATOR_HOST": f"127.0.0.1:{self.ports.tasks}",
            "TASKS_JWKS_URL": f"http://127.0.0.1:{self.ports.tasks_http}/jwks",
            "WORKER_URL": self.worker_url,
            "PUBLIC_BASE_URL": self.api_url,
            "LOCAL_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
            # functions-framework as Cloud Functions runs it (terraform/functions.tf): its
            # execution-id logging, which shared/logs.py must take over (one scrubbed line)
            "LOG_EXECUTION_ID": "true",
            # The console's origin may call the api (CORS), whatever its port.
            **self._web_origins(),
            **self.settings,
        }

    def _web_origins(self) -> dict[str, str]:
        if not self.web_port or "ALLOWED_ORIGINS" in os.environ:
            return {}
        return {
            "ALLOWED_ORIGINS": f"{self.web_url},http://localhost:{self.web_port}",
        }

    def _ports(self) -> list[tuple[str, int]]:
        """Every port the stack binds, by name."""
        return self.ports.items() + ([("web", self.web_port)] if self.web_port else [])

    def check_ports(self) -> None:
        """PortTaken, naming the port and the variable that moves it, when two ports of the
        stack are the same or one cannot be bound; run before anything starts."""
        seen: dict[int, str] = {}
        for name, port in self._ports():
            if port in seen:
                raise PortTaken(
                    f"{Ports.variable(seen[port])} and {Ports.variable(name)} are both {port}: "
                    f"give each process a port of its own"
                )
            seen[port] = name
        for name, port in self._ports():
            if (reason := port_in_use(port)) is not None:
                holder = self._left_over(name)
                raise PortTaken(
                    f"port {port} ({name}) is already in use on 127.0.0.1 ({reason}): "
                    f"{holder or 'stop what holds it'}, or set {Ports.variable(name)} to "
                    f"another port (e.g. `{Ports.variable(name)}={port + 1000} make dev`)"
                )

    def _left_over(self, name: str) -> str:
        """A hint when the process of an earlier run of this stack still holds its port."""
        owner = "tasks" if name == "tasks_http" else name
        pid = read_pid_file(self.pid_file(owner))
        if pid is None:
            return ""
        command = process_command(pid)[:80]
        return f"PID {pid} ({command}) holds it, left by an earlier run here: stop it (kill {pid})"

    def start(self) -> LocalStack:
        self.check_ports()  # before anything starts: nothing to clean up when one is taken
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self.queue_down_marker.unlink(missing_ok=True)
        if self.fresh:
            for part in ("firestore", "media", "generator"):
                shutil.rmtree(self.state_dir / part, ignore_errors=True)
        for name in NAMES:  # each run starts its logs anew
            self.log_path(name).write_text("")
        try:
            self.firestore = FirestoreEmulator(
                port=self.ports.firestore,
                project=PROJECT,
                log_path=self.log_path("firestore"),
                data_dir=self.state_dir / "firestore" if self.durable else None,
                echo=not self.quiet,
            )
            self.firestore.start()
            self._record("firestore", self.firestore.process)
            self.start_tasks_server(fresh=self.fresh)
            for name in FUNCTIONS:
                self.start_function(name)
            for name, url in (("api", self.api_url), ("worker", self.worker_url)):
                self._wait_http(name, url)
            if self.web_port:
                self.start_web()
        except BaseException:
            self.stop()
            raise
        return self

    def start_web(self) -> None:
        """The web console on web_port, a thread of this process; requests go to web.log."""
        log_path = self.log_path("web")
        log_path.write_text("")

        def log(line: str) -> None:
            with open(log_path, "a") as log_file:
                log_file.write(line + "\n")

        assert self.web_port is not None
        self.web = WebServer(self.web_port, self.api_url, config=self.web_config, log=log)
        self.web.start()

    def start_tasks_server(self, fresh: bool = False) -> CloudTasksServer:
        """(Re)start the local Cloud Tasks server; its SQLite state survives unless fresh."""
        tasks = self.tasks = CloudTasksServer(
            port=self.ports.tasks,
            http_port=self.ports.tasks_http,
            db_path=self.state_dir / TASKS_DB,
            queues=[self.queue_path, self.start_queue_path],
            fresh=fresh,
            log_path=self.log_path("tasks"),
            on_line=None if self.quiet else (lambda line: say(f"[tasks] {line}")),
            iam_from=self.iam_from,
        )
        try:
            self.tasks.start()
            self._configure_queue()
        except BaseException:
            self.tasks = None
            raise
        self._record("tasks", tasks.process)
        return tasks

    def _configure_queue(self) -> None:
        """The queues retry as terraform/queue.tf configures the real ones
        (devtools/queue_policy.py), not with Cloud Tasks' defaults; the start queue is paced
        at VEO_STARTS_PER_MINUTE, as queue.tf's max_dispatches_per_second sets it."""
        from google.cloud import tasks_v2
        from google.protobuf import field_mask_pb2

        assert self.tasks is not None
        retry = retry_config(video_queue_retry_policy())
        queue = tasks_v2.Queue(name=self.queue_path, retry_config=retry)
        mask = field_mask_pb2.FieldMask(paths=["retry_config"])
        self.tasks.client().update_queue(queue=queue, update_mask=mask, timeout=10)
        pace = tasks_v2.RateLimits(max_dispatches_per_second=self.starts_per_minute / 60)
        start = tasks_v2.Queue(name=self.start_queue_path, retry_config=retry, rate_limits=pace)
        mask = field_mask_pb2.FieldMask(paths=["retry_config", "rate_limits"])
        self.tasks.client().update_queue(queue=start, update_mask=mask, timeout=10)

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
            pid = self.tasks.pid
            self.tasks.stop()
            self.tasks = None
            remove_pid_file(self.pid_file("tasks"), pid)

    def processes(self) -> dict[str, subprocess.Popen[str]]:
        """The running processes by name (firestore is gcloud, the Java process beneath it)."""
        running = {
            "firestore": self.firestore.process if self.firestore else None,
            "tasks": self.tasks.process if self.tasks else None,
            **self.functions,
        }
        return {name: process for name, process in running.items() if process is not None}

    def exited(self) -> dict[str, int]:
        """The processes of the stack that have ended, with their exit codes (negative: the
        signal that ended them)."""
        return {
            name: process.returncode
            for name, process in self.processes().items()
            if process.poll() is not None
        }

    def _record(self, name: str, process: subprocess.Popen[str] | None) -> None:
        if process is not None:
            write_pid_file(self.pid_file(name), process.pid)

    def start_function(self, name: str) -> subprocess.Popen[str]:
        """Start the function `name` (api, worker) on its port; returns without waiting for it
        to answer (function_answers tells)."""
        port = getattr(self.ports, name)
        self.functions[name] = self._start_function(name, FUNCTIONS[name], port)
        return self.functions[name]

    def end_function(self, name: str) -> None:
        """Forget the function `name` that ended on its own, and kill what is left of its
        process group (a gunicorn worker still holding the port), as Cloud Run discards a
        crashed instance; start_function starts a new one."""
        process = self.functions.pop(name, None)
        if process is not None:
            stop_group(process, grace=0)
            remove_pid_file(self.pid_file(name), process.pid)

    def function_answers(self, name: str) -> bool:
        """Does the function `name` answer HTTP now (any status)?"""
        try:
            httpx.get(f"http://127.0.0.1:{getattr(self.ports, name)}/ready", timeout=1)
        except httpx.TransportError:
            return False
        return True

    def _start_function(self, name: str, target: str, port: int) -> subprocess.Popen[str]:
        process = spawn(
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
            env={"CLOUD_TASKS_EMULATOR_IDENTITY": tasks_identity(name, PROJECT), **self.env()},
        )
        assert process.stdout is not None
        pump(process.stdout, self.log_path(name), name, echo=not self.quiet)
        self._record(name, process)
        return process

    def _wait_http(self, name: str, url: str, deadline_seconds: float = 60) -> None:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            process = self.functions[name]
            if process.poll() is not None:
                # The log's end in the message too: a scratch stack's folder is gone after.
                tail = self.log_path(name).read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(
                    f"the {name} function exited with code {process.returncode}"
                    f" (its log: {self.log_path(name)}); its last lines:\n" + "\n".join(tail)
                )
            try:
                httpx.get(url + "/ready", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the {name} function did not answer on {url} in {deadline_seconds}s")

    def stop(self) -> None:
        """The console and the functions first, then the queue, then Firestore (exported
        last, when durable)."""
        if self.web:
            self.web.stop()
            self.web = None
        for name, process in self.functions.items():
            stop_group(process)
            remove_pid_file(self.pid_file(name), process.pid)
        self.functions.clear()
        self.stop_tasks_server()
        if self.firestore:
            pid = self.firestore.process.pid if self.firestore.process else None
            self.firestore.stop()
            self.firestore = None
            remove_pid_file(self.pid_file("firestore"), pid)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def scratch_stack(settings: dict[str, str], prefix: str | None = None) -> Iterator[LocalStack]:
    """A quiet stack on free ports, its state in a temporary directory removed after it
    (the benchmarks' stack)."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as state,
        LocalStack(ports=Ports.free(), state_dir=Path(state), settings=settings, quiet=True) as s,
    ):
        yield s


# -- make queue-down / make queue-up: act on this stack's own Cloud Tasks server ------------


class QueueControlError(RuntimeError):
    """Why make queue-down / queue-up did nothing."""


def running_tasks_server(state_dir: Path) -> int | None:
    """The pid of this stack's Cloud Tasks server: the one recorded in run/tasks.pid, still the
    same process (start time), and serving this state dir's database."""
    return read_pid_file(
        state_dir / "run" / "tasks.pid", (TASKS_COMMAND, str(state_dir / TASKS_DB))
    )


def running_dev(state_dir: Path) -> int | None:
    """The pid of the `make dev` (scripts/dev.py) that runs the stack in state_dir."""
    return read_pid_file(state_dir / "run" / "dev.pid", ("dev.py",))


def queue_down(state_dir: Path, grace: float = 10) -> int:
    """Stop exactly this stack's Cloud Tasks server (SIGTERM to its pid, checked first) and
    tell `make dev` it is meant: it keeps the rest running. Returns the pid stopped."""
    marker = state_dir / "run" / "queue-down"
    pid = running_tasks_server(state_dir)
    if pid is None:
        if marker.exists() and running_dev(state_dir):
            raise QueueControlError("the queue is already down; `make queue-up` starts it again")
        raise QueueControlError(
            f"no Cloud Tasks server of the stack in {state_dir} is running (is `make dev` running?)"
        )
    marker.write_text(f"{pid}\n")  # before the signal: make dev must never see an unexplained exit
    stop_pid_group(pid, grace)
    return pid


def queue_up(state_dir: Path, deadline_seconds: float = 60) -> int:
    """Ask the running `make dev` to start the Cloud Tasks server again, on the same ports and
    the same SQLite file (no task lost); returns its new pid once it serves."""
    run = state_dir / "run"
    marker = run / "queue-down"
    if running_dev(state_dir) is None:
        raise QueueControlError(
            f"`make dev` is not running the stack in {state_dir}: `make dev` starts the queue"
        )
    if (pid := running_tasks_server(state_dir)) is not None and not marker.exists():
        raise QueueControlError(f"the queue is already up (Cloud Tasks server PID {pid})")
    failure = run / "queue-up-failed"
    failure.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)  # make dev restarts the server once the marker is gone
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        if failure.exists():
            raise QueueControlError(failure.read_text().strip())
        if (pid := running_tasks_server(state_dir)) is not None:
            return pid
        if running_dev(state_dir) is None:
            raise QueueControlError("`make dev` stopped before the queue was up")
        time.sleep(0.1)
    raise QueueControlError(f"the Cloud Tasks server was not up in {deadline_seconds:.0f} s")
