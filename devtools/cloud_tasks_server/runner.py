"""Run the local Cloud Tasks server as a subprocess, for `make dev` (devtools/stack.py), the
tests and the benchmarks.

    with CloudTasksServer(queues=["projects/p/locations/l/queues/q"]) as server:
        client = server.client()  # the real tasks_v2.CloudTasksClient, insecure channel
        ...

The server runs as `sys.executable -m devtools.cloud_tasks_server` in its own session, from
the repository root. Its output (stdout and stderr) is drained by a thread so the pipe never
fills; the last lines are kept in `lines` (and written to `log_path` when given, and passed
to `on_line` when given).
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devtools.processes import free_port, spawn, stop_group

__all__ = ["CloudTasksServer", "client_for", "insecure_channel"]

ROOT = Path(__file__).resolve().parents[2]
READY = "cloud-tasks-server ready "
START_DEADLINE = 30.0


def insecure_channel(target: str) -> grpc.Channel:
    """A channel that reconnects within half a second after the server comes back."""
    return grpc.insecure_channel(
        target,
        options=[
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500),
        ],
    )


def client_for(target: str) -> tasks_v2.CloudTasksClient:
    """The real Cloud Tasks client on an insecure channel to `target` (host:port)."""
    transport = CloudTasksGrpcTransport(channel=insecure_channel(target))
    return tasks_v2.CloudTasksClient(transport=transport)


class CloudTasksServer:
    def __init__(
        self,
        port: int | None = None,
        http_port: int | None = None,
        db_path: str | Path | None = None,
        queues: Iterable[str] = (),
        fresh: bool = True,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        *,
        log_path: str | Path | None = None,
        keep_lines: int = 500,
        on_line: Callable[[str], None] | None = None,
        iam_from: str | Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.http_port = http_port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cloud-tasks-")
            db_path = Path(self._tmp.name) / "cloud-tasks.sqlite3"
        self.db_path = Path(db_path)
        self.queues = list(queues)
        self.fresh = fresh
        self.extra_args = list(extra_args)
        self.iam_from = Path(iam_from) if iam_from else None
        self.env = dict(env or {})
        self.log_path = Path(log_path) if log_path else None
        self.on_line = on_line
        self.lines: collections.deque[str] = collections.deque(maxlen=keep_lines)
        self.process: subprocess.Popen[str] | None = None
        self.returncode: int | None = None  # of the last process stopped
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._clients: list[tasks_v2.CloudTasksClient] = []

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/jwks"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "devtools.cloud_tasks_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--db",
            str(self.db_path),
        ]
        for queue in self.queues:
            args += ["--queue", queue]
        if self.fresh:
            args.append("--fresh")
        if self.iam_from is not None:
            args += ["--iam-from", str(self.iam_from)]
        return args + self.extra_args

    def start(self) -> CloudTasksServer:
        if self.process and self.process.poll() is None:
            return self
        self._ready.clear()
        self.lines.clear()
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = spawn(self.command(), cwd=ROOT, env=env)
        self._reader = threading.Thread(
            target=self._drain, args=(self.process,), name="cloud-tasks-output", daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + START_DEADLINE
        while not self._ready.wait(0.05):
            if self.process.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(
                    f"the Cloud Tasks server exited with code {self.process.returncode}:\n"
                    + self.output()
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the Cloud Tasks server was not ready in {START_DEADLINE:.0f} s:\n"
                    + self.output()
                )
        return self

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        sink = open(self.log_path, "a") if self.log_path else None  # noqa: SIM115
        try:
            for line in process.stdout:
                self.lines.append(line.rstrip("\n"))
                if sink:
                    sink.write(line)
                    sink.flush()
                if self.on_line:
                    self.on_line(line.rstrip("\n"))
                if line.startswith(READY):
                    self._ready.set()
        finally:
            if sink:
                sink.close()

    def output(self) -> str:
        """The last lines the server printed (stdout and stderr)."""
        return "\n".join(self.lines)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; idempotent. Clients made by client() stay usable
        (they see the outage, and reconnect after start()); __exit__ closes them."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            stop_group(process)
        self.returncode = process.returncode
        if self._reader:
            self._reader.join(5)
        if process.stdout:
            process.stdout.close()

    def client(self) -> tasks_v2.CloudTasksClient:
        """The real client over an insecure channel to this server (closed by stop())."""
        client = client_for(self.grpc_target)
        self._clients.append(client)
        return client

    def __enter__(self) -> CloudTasksServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.transport.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self) -> None:  # a forgotten server must not outlive its owner
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(Exception):
                os.killpg(process.pid, signal.SIGKILL)
