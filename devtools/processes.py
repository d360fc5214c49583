"""Local processes for the dev stack and the tests: free ports, output with the process's
name, pid files that are checked before they are trusted, and stopping a process with
everything it started (each runs in its own process group), so nothing is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

_say_lock = threading.Lock()


# Where free_port looks: below the kernel's ephemeral range (Linux: 32768-60999), which every
# outgoing connection takes its local port from. A port picked from that range (bind to 0)
# can be taken by some client's connection in the seconds before our server binds it (the
# emulator starts first): a stack then failed to start, now and then, on a busy machine.
# Above the ports `make dev` uses by default (8080-8124, 8090).
FREE_PORTS = range(20000, 32768)
# A port handed out is reserved for this long (a file in this folder, made with O_EXCL), so
# that processes looking at once (make test runs several stacks together) never get the
# same one before its server binds it.
# One folder per user: another user's would not be writable.
RESERVATIONS = Path(tempfile.gettempdir()) / f"creator-free-ports-{os.getuid()}"
RESERVED_SECONDS = 120


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the kernel's ephemeral
    range (FREE_PORTS) and reserved for RESERVED_SECONDS against every other caller."""
    import secrets

    for _ in range(500):
        port = FREE_PORTS[secrets.randbelow(len(FREE_PORTS))]
        if port_in_use(port) is None and _reserve(port):
            return port
    raise RuntimeError(f"no free port in {FREE_PORTS.start}-{FREE_PORTS.stop - 1} after 500 tries")


def _reserve(port: int) -> bool:
    RESERVATIONS.mkdir(parents=True, exist_ok=True)
    path = RESERVATIONS / str(port)
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime < RESERVED_SECONDS:
                    return False
                path.unlink()  # an old reservation: its server is up (or gone) by now
            except FileNotFoundError:
                pass
    return False


def port_in_use(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be bound on `host` now (e.g. "Address already in use"), or None.

    A plain bind with SO_REUSEADDR, as the servers do: a port in TIME_WAIT counts as free,
    one with a listener (ours or anyone's) does not."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.close()
    return None


def say(text: str, stream: IO[str] | None = None) -> None:
    """Print whole lines; the output pumps of every process use the same lock, so lines of
    different processes never mix."""
    stream = stream or sys.stdout
    with _say_lock:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()


def spawn(
    command: list[str], *, cwd: Path | str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start `command` in a process group of its own (stop_group stops it with all it
    starts), stdin closed, stdout and stderr merged into one text pipe for `pump` to drain."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )


def pump(
    stream: Iterable[str],
    log_path: Path,
    name: str,
    echo: bool,
    strip: str = "",
    on_line: Callable[[str], None] | None = None,
) -> threading.Thread:
    """Drain a process's output (text lines) in a thread, so the pipe never fills: append each
    line to `log_path` and, when `echo`, print it on stdout as `[name] line`. A prefix `strip`
    that the process puts on its own lines is dropped first."""

    def run() -> None:
        with open(log_path, "a") as log:
            for raw in stream:
                line = raw.rstrip("\n")
                if strip and line.startswith(strip):
                    line = line[len(strip) :]
                log.write(line + "\n")
                log.flush()
                if echo:
                    say(f"[{name}] {line}")
                if on_line:
                    on_line(line)

    thread = threading.Thread(target=run, name=f"{name}-output", daemon=True)
    thread.start()
    return thread


# -- which process is this? -----------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state (3rd) on


def process_start(pid: int) -> str | None:
    """When process `pid` started (an opaque string), or None when there is no live process
    with that id (a zombie counts as gone). With the pid, it names one process for good."""
    if pid <= 0:
        return None
    fields = _proc_stat(pid)
    if fields is not None:
        return None if fields[0] in ("Z", "X") else f"boot+{fields[19]}"
    if Path("/proc/self/stat").exists():
        return None  # Linux, and no such process
    try:  # macOS and other systems without /proc
        out = subprocess.run(
            ["ps", "-o", "stat=", "-o", "lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out or out.startswith("Z"):
        return None
    return out.split(None, 1)[1]


def process_command(pid: int) -> str:
    """The command line of process `pid`, space separated ("" when unknown)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        pass
    try:
        return subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_pid_file(path: Path, pid: int) -> None:
    """Record `pid` with its start time, so that a reader can tell it from a later process
    that got the same pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"pid": pid, "start": process_start(pid)}) + "\n")
    tmp.replace(path)


def read_pid_file(path: Path, command_contains: Iterable[str] = ()) -> int | None:
    """The pid recorded in `path` when that very process still runs (same start time) and its
    command line contains each of `command_contains`; otherwise None."""
    try:
        record = json.loads(path.read_text())
        pid, start = int(record["pid"]), record["start"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if start is None or process_start(pid) != start:
        return None
    command = process_command(pid)
    if not all(part in command for part in command_contains):
        return None
    return pid


def remove_pid_file(path: Path, pid: int | None = None) -> None:
    """Remove `path`; with `pid`, only while it still records that pid."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if pid is None or int(json.loads(path.read_text())["pid"]) == pid:
            path.unlink()


# -- restarting -----------------------------------------------------------------------------


class RestartBackoff:
    """When to start again a process that ended, as Cloud Run replaces a crashed instance:
    `first` seconds after its first end, doubling at each end that follows up to `cap`; back
    to `first` once a start has stayed up `stable` seconds. `restarts` counts them all."""

    def __init__(self, first: float = 0.5, cap: float = 10.0, stable: float = 30.0) -> None:
        self.first, self.cap, self.stable = first, cap, stable
        self.restarts = 0
        self._delay = first
        self._started: float | None = None

    def started(self, now: float) -> None:
        """The process was started (again) at `now` (time.monotonic())."""
        self._started = now

    def ended(self, now: float) -> float:
        """It ended at `now`: the delay before its next start."""
        if self._started is not None and now - self._started >= self.stable:
            self._delay = self.first
        delay, self._delay = self._delay, min(self._delay * 2, self.cap)
        self.restarts += 1
        return delay


# -- stopping -------------------------------------------------------------------------------


def stop_group(process: subprocess.Popen[str], grace: float = 10) -> None:
    """SIGTERM the process's group (it was started with start_new_session=True), SIGKILL what
    is left after `grace` seconds; returns once every process of the group is gone."""
    pgid = process.pid

    def reap() -> None:
        process.poll()  # reap the leader, or the group never empties
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-pgid, os.WNOHANG)

    _signal_group(pgid, grace, reap)
    process.wait()


def stop_pid_group(pid: int, grace: float = 10) -> None:
    """The same for a process that is not our child (found through a pid file): SIGTERM its
    group when it leads one (else the process alone), SIGKILL after `grace` seconds; returns
    once it is gone or a zombie that its parent has yet to reap."""
    start = process_start(pid)
    if start is None:
        return
    try:
        leads_group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return
    if leads_group:
        _signal_group(pid, grace, lambda: None, alive=lambda: process_start(pid) == start)
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if process_start(pid) != start:
                return
            time.sleep(0.05)


def _signal_group(
    pgid: int,
    grace: float,
    reap: Callable[[], None],
    alive: Callable[[], bool] | None = None,
) -> None:
    def group_alive() -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True if alive is None else alive()

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            reap()
            if not group_alive():
                return
            time.sleep(0.05)


def serve_until_stopped(stop: Callable[[], None], alive: Callable[[], bool] = lambda: True) -> int:
    """The foreground of a dev tool: wait until Ctrl-C, SIGTERM or `alive()` turning false
    (checked every second), then `stop()` what it runs; 0."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while alive():
            time.sleep(1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        stop()
    return 0
