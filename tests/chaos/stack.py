"""The local stack with the faults of part two: processes killed and restarted, the
Firestore emulator frozen. A subclass of devtools.stack.LocalStack, so that the stack itself
stays as `make dev` and the end-to-end tests run it.

- kill("api" | "worker" | "tasks"): SIGKILL to the process's group (no clean shutdown: a
  request or a step dies wherever it is), `down` seconds without it, then the same process
  started again on the same port (the Cloud Tasks server on the same SQLite file: no task
  lost, as Cloud Tasks keeps them);
- freeze(seconds): SIGSTOP to the emulator's process group (gcloud and its Java process),
  SIGCONT after `seconds`: every store call in flight waits, then times out or goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from devtools.stack import LocalStack

FUNCTIONS = {"api": "api", "worker": "video_worker"}  # process name -> entry point


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


class ChaosStack(LocalStack):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._frozen = threading.Lock()  # held while the emulator is stopped
        self._restarting = threading.Lock()

    def url_of(self, name: str) -> str:
        return self.api_url if name == "api" else self.worker_url

    def kill(self, name: str, down: float = 0.0) -> None:
        """SIGKILL `name` with all it started, wait `down` seconds, start it again."""
        with self._restarting:
            if name == "tasks":
                self._kill_tasks(down)
            else:
                self._kill_function(name, down)

    def _kill_function(self, name: str, down: float) -> None:
        process = self.functions[name]
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        time.sleep(down)
        port = self.ports.api if name == "api" else self.ports.worker
        self.functions[name] = self._start_function(name, FUNCTIONS[name], port)
        self._wait_http(name, self.url_of(name))

    def _kill_tasks(self, down: float) -> None:
        if self.tasks is not None and self.tasks.process is not None:
            _signal_group(self.tasks.process.pid, signal.SIGKILL)
            self.tasks.process.wait(timeout=30)
            self.tasks.stop()  # reaps what is left, closes its output
            self.tasks = None
        time.sleep(down)
        self.start_tasks_server(fresh=False)

    def freeze(self, seconds: float) -> None:
        """Stop the Firestore emulator's whole process group for `seconds`."""
        assert self.firestore is not None and self.firestore.process is not None
        pid = self.firestore.process.pid
        with self._frozen:
            _signal_group(pid, signal.SIGSTOP)
            try:
                time.sleep(seconds)
            finally:
                _signal_group(pid, signal.SIGCONT)

    def heal(self) -> list[str]:
        """Start again whatever is not running (a kill that failed half-way); returns the
        names started."""
        started = []
        with self._restarting:
            for name in FUNCTIONS:
                if self.functions[name].poll() is not None:
                    self._kill_function(name, 0)
                    started.append(name)
            if self.tasks is None or self.tasks.process is None or self.tasks.process.poll():
                self._kill_tasks(0)
                started.append("tasks")
        return started

    def stop(self) -> None:
        if self.firestore is not None and self.firestore.process is not None:
            _signal_group(self.firestore.process.pid, signal.SIGCONT)  # never left stopped
        super().stop()
