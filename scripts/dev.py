"""`make dev`: the whole stack locally, in the foreground, until Ctrl-C.

    scripts/dev.py              make dev         (FRESH=1: start from empty stores)
    scripts/dev.py queue-down   make queue-down  (stop this stack's Cloud Tasks server)
    scripts/dev.py queue-up     make queue-up    (start it again, with the tasks it had)

Ports come from FIRESTORE_PORT, TASKS_PORT, TASKS_HTTP_PORT, API_PORT, WORKER_PORT and
WEB_PORT (the web console: docs/web-console.md); the state from LOCAL_STATE_DIR (default
.local); every variable of the configuration table (README) can be set in the environment
too. See docs/local-development.md.

Every process's output is printed as `[name] line` (and kept in <state>/<name>.log). When a
process of the stack ends without being asked to, make dev says which, with its exit code
and its log, stops everything and exits with code 1. The one process that may be stopped on
purpose is the Cloud Tasks server, by `make queue-down`: that is the outage the api must
survive, so the rest keeps running until `make queue-up`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.processes import remove_pid_file, say, write_pid_file  # noqa: E402
from devtools.stack import (  # noqa: E402
    LocalStack,
    Ports,
    QueueControlError,
    queue_down,
    queue_up,
    running_dev,
)

# A 5 s "generation", for a person watching.
DEV_DEFAULTS = {"LOCAL_VIDEO_LATENCY_SECONDS": "5"}
WHAT = {
    "firestore": "Firestore emulator",
    "tasks": "Cloud Tasks server",
    "api": "api function",
    "worker": "video_worker function",
}
WEB_PORT = 8090  # the web console; the api allows its origin
TICK_SECONDS = 0.2  # how often make dev looks at its processes


def state_dir_from_env() -> Path:
    path = Path(os.environ.get("LOCAL_STATE_DIR") or ".local")
    return path if path.is_absolute() else ROOT / path


def shown(path: Path) -> str:
    """A path as a person in the repository would type it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def err(text: str) -> None:
    say(text, sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "queue-down", "queue-up"]
    )
    command = parser.parse_args(argv).command
    state_dir = state_dir_from_env()
    try:
        if command == "queue-down":
            pid = queue_down(state_dir)
            say(
                f"Cloud Tasks server (PID {pid}) stopped: the queue is down. "
                "`make queue-up` starts it again, with the tasks it had."
            )
            return 0
        if command == "queue-up":
            pid = queue_up(state_dir)
            say(f"Cloud Tasks server up again (PID {pid}), with the tasks it had.")
            return 0
    except QueueControlError as exc:
        err(f"make {command}: {exc}")
        return 1
    return run(state_dir)


def web_port_from_env() -> int:
    """WEB_PORT (default 8090); ValueError naming it when it is not a port number."""
    raw = os.environ.get("WEB_PORT", str(WEB_PORT))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"WEB_PORT={raw!r} is not a port number (1..65535)")
    return int(raw)


def run(state_dir: Path) -> int:
    if (pid := running_dev(state_dir)) is not None:
        err(f"make dev: already running for {shown(state_dir)} (PID {pid}); Ctrl-C stops it")
        return 1
    try:
        ports = Ports.from_env()
        web_port = web_port_from_env()
    except ValueError as exc:
        err(f"make dev: {exc}")
        return 1
    settings = {name: os.environ.get(name, value) for name, value in DEV_DEFAULTS.items()}
    fresh = os.environ.get("FRESH", "").lower() not in ("", "0", "false", "no")
    stack = LocalStack(
        ports=ports,
        state_dir=state_dir,
        settings=settings,
        fresh=fresh,
        durable=True,
        web_port=web_port,
    )
    stopping = threading.Event()
    # Ctrl-C (SIGINT), SIGTERM and a closed terminal (SIGHUP) all stop everything cleanly (and
    # save Firestore's data); set explicitly, because a shell that starts `make dev` in the
    # background has SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())
    dev_pid_file = stack.pid_file("dev")
    try:
        try:
            stack.check_ports()  # before any file is written
            write_pid_file(dev_pid_file, os.getpid())
            stack.start()
        except (RuntimeError, OSError) as exc:
            err(f"make dev: {exc}")
            return 1
        try:
            if not stopping.is_set():  # Ctrl-C during the start: stop without the welcome
                print_welcome(stack)
            return watch(stack, stopping)
        finally:
            say("\nstopping the local stack ...")
            stack.stop()
            say(f"stopped; Firestore's data and the queued tasks are kept in {shown(state_dir)}")
    finally:
        remove_pid_file(dev_pid_file, os.getpid())


def watch(stack: LocalStack, stopping: threading.Event) -> int:
    """Until asked to stop: report a process that ended (and return 1 unless it is the Cloud
    Tasks server stopped by make queue-down), start that server again after make queue-up,
    and schedule the reconcile sweep (Cloud Scheduler's part), every minute by default."""
    interval = float(os.environ.get("RECONCILE_INTERVAL_SECONDS", "60"))
    next_sweep = time.monotonic() + interval
    marker = stack.queue_down_marker
    while not stopping.wait(TICK_SECONDS):
        for name, code in stack.exited().items():
            pid = stack.processes()[name].pid
            if name == "tasks" and marker.exists():
                stack.stop_tasks_server()
                say(
                    f"[make dev] the Cloud Tasks server (PID {pid}) was stopped by make "
                    "queue-down: the queue is down; `make queue-up` starts it again"
                )
                continue
            ended = (
                f"was killed by {signal.Signals(-code).name}"
                if code < 0
                else f"exited with code {code}"
            )
            err(
                f"make dev: the {WHAT[name]} ({name}, PID {pid}) {ended}; its log: "
                f"{shown(stack.log_path(name))}. Stopping everything."
            )
            return 1
        if stack.tasks is None and not marker.exists():
            restart_tasks_server(stack)
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + interval
            if stack.tasks is not None:
                try:
                    stack.schedule_reconcile()
                except Exception as exc:
                    err(f"[make dev] reconcile not scheduled: {exc}")
    return 0


def restart_tasks_server(stack: LocalStack) -> None:
    """make queue-up asked for it: same ports, same SQLite file (--fresh never)."""
    try:
        stack.start_tasks_server(fresh=False)
    except (RuntimeError, OSError) as exc:
        reason = f"the Cloud Tasks server did not start: {exc}"
        (stack.run_dir / "queue-up-failed").write_text(reason + "\n")
        stack.queue_down_marker.write_text("")
        err(f"[make dev] {reason}")
        return
    say(
        f"[make dev] the Cloud Tasks server is up again (PID {stack.tasks.pid}), "
        "with the tasks it had"
    )


def print_welcome(stack: LocalStack) -> None:
    api = stack.api_url
    who = "-H 'Authorization: Bearer dev:alice'"
    submit = (
        f"curl -s -X POST {api}/api/generate/video {who} -H 'Content-Type: application/json' "
        """-d '{"prompt": "a red fox running through snow"}'"""
    )
    state = shown(stack.state_dir)
    kept = (
        "started empty: FRESH=1"
        if stack.fresh
        else "data of the last run kept; FRESH=1 starts empty"
    )
    tasks = stack.tasks.pid if stack.tasks else "?"
    jwks = f"http://127.0.0.1:{stack.ports.tasks_http}/jwks"
    say(
        f"""
Local stack running (Ctrl-C stops everything):
  web console     {stack.web_url}/  (operator dashboard {stack.web_url}/admin)
  api             {api}
  video_worker    {stack.worker_url}
  Cloud Tasks     127.0.0.1:{stack.ports.tasks} (gRPC), JWKS {jwks}, PID {tasks}
  Firestore       127.0.0.1:{stack.ports.firestore} (emulator)
  state, logs     {state}/ ({kept})

In the web console, sign in with any dev identity (a new one starts with 100 tokens);
`admin` is an operator. Or try it with curl (dev identity 'alice'):
  {submit}
  curl -s {api}/api/creations/CREATION_ID {who}
  curl -s {api}/api/tokens {who}
  curl -s {api}/api/health/queue

The queue outage: `make queue-down` stops this stack's Cloud Tasks server, `make queue-up`
starts it again with its tasks (docs/local-development.md).
"""
    )


if __name__ == "__main__":
    sys.exit(main())
