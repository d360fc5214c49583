"""`make dev`: the whole stack locally, in the foreground, until Ctrl-C.

    scripts/dev.py              make dev         (FRESH=1: start from empty stores)
    scripts/dev.py queue-down   make queue-down  (stop this stack's Cloud Tasks server)
    scripts/dev.py queue-up     make queue-up    (start it again, with the tasks it had)

Ports come from FIRESTORE_PORT, TASKS_PORT, TASKS_HTTP_PORT, API_PORT, WORKER_PORT and
WEB_PORT (the web console: docs/web-console.md); the state from LOCAL_STATE_DIR (default
.local); every variable of the configuration table (README) can be set in the environment
too. See docs/local-development.md.

    scripts/dev.py pid NAME     the PID of this stack's firestore, tasks, api or worker

Every process's output is printed as `[name] line` (and kept in <state>/<name>.log). When a
process of the stack ends without being asked to, make dev says which, with its exit code
(or signal) and its log, and then:
  - the Cloud Tasks server (stopped by `make queue-down` or ended any other way): that is
    the queue outage the api must survive; the rest keeps running until `make queue-up`;
  - the api or the worker: started again, as Cloud Run replaces a crashed instance, after
    0.5 s doubling to 10 s while it keeps ending (back to 0.5 s once it stayed up 30 s);
  - the Firestore emulator: its data since the last export is gone; make dev says so,
    stops everything and exits with code 1.
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

from devtools.processes import (  # noqa: E402
    RestartBackoff,
    read_pid_file,
    remove_pid_file,
    say,
    write_pid_file,
)
from devtools.stack import (  # noqa: E402
    FUNCTIONS,
    NAMES,
    LocalStack,
    Ports,
    QueueControlError,
    queue_down,
    queue_up,
    running_dev,
    running_tasks_server,
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
LOG_TAIL_LINES = 15  # of a log shown when Firestore ends


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
        "command", nargs="?", default="run", choices=["run", "queue-down", "queue-up", "pid"]
    )
    parser.add_argument("name", nargs="?", choices=NAMES, help="for pid: which process")
    args = parser.parse_args(argv)
    command = args.command
    state_dir = state_dir_from_env()
    if command == "pid":
        return print_pid(state_dir, args.name)
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


def print_pid(state_dir: Path, name: str | None) -> int:
    """Print the PID of this stack's process `name` (checked: the very process recorded,
    still running), e.g. for `kill -9 $(scripts/dev.py pid tasks)`; exit code 1 if none."""
    if name is None:
        err(f"make dev pid: which process? one of {', '.join(NAMES)}")
        return 1
    if name == "tasks":
        pid = running_tasks_server(state_dir)
    else:
        pid = read_pid_file(state_dir / "run" / f"{name}.pid")
    if pid is None:
        err(f"make dev pid: no {name} process of the stack in {shown(state_dir)} is running")
        return 1
    print(pid)
    return 0


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
            firestore_lost = "firestore" in stack.exited()
            say("\nstopping the local stack ...")
            stack.stop()
            if firestore_lost:
                say(
                    f"stopped; the queued tasks are kept in {shown(state_dir)}, not this run's data"
                )
            else:
                kept = "Firestore's data and the queued tasks are kept in"
                say(f"stopped; {kept} {shown(state_dir)}")
    finally:
        remove_pid_file(dev_pid_file, os.getpid())


def watch(stack: LocalStack, stopping: threading.Event) -> int:
    """Until asked to stop: report each process that ends; the Cloud Tasks server's end is the
    queue outage (the rest keeps running until make queue-up), a function's end is followed by
    a new one (RestartBackoff), Firestore's end stops everything (returns 1). Also schedules
    the reconcile sweep (Cloud Scheduler's part), every minute by default."""
    interval = float(os.environ.get("RECONCILE_INTERVAL_SECONDS", "60"))
    next_sweep = time.monotonic() + interval
    functions = {name: Replacement() for name in FUNCTIONS}
    now = time.monotonic()
    for replacement in functions.values():
        replacement.backoff.started(now)
    while not stopping.wait(TICK_SECONDS):
        for name, code in stack.exited().items():
            pid = stack.processes()[name].pid
            if name == "tasks":
                queue_ended(stack, pid, code)
            elif name == "firestore":
                firestore_ended(stack, pid, code)
                return 1
            else:
                function_ended(stack, name, pid, code, functions[name])
        for name, replacement in functions.items():
            replacement.tick(stack, name)
        if stack.tasks is None and not stack.queue_down_marker.exists():
            restart_tasks_server(stack)
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + interval
            if stack.tasks is not None:
                try:
                    stack.schedule_reconcile()
                except Exception as exc:
                    err(f"[make dev] reconcile not scheduled: {exc}")
    return 0


def how_it_ended(code: int) -> str:
    """'was killed by SIGKILL' or 'exited with code 3', from a Popen returncode."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def queue_ended(stack: LocalStack, pid: int, code: int) -> None:
    """The Cloud Tasks server ended: by make queue-down (its mark was written first), or any
    other way (killed, crashed). Either is the queue outage the api is built to survive: the
    rest keeps running, and make queue-up starts the server again with its SQLite state."""
    marker = stack.queue_down_marker
    by_queue_down = marker.exists()
    stack.stop_tasks_server()
    if by_queue_down:
        say(
            f"[make dev] the Cloud Tasks server (PID {pid}) was stopped by make "
            "queue-down: the queue is down; `make queue-up` starts it again"
        )
        return
    marker.write_text(f"{pid}\n")  # down until make queue-up, as after make queue-down
    err(
        f"make dev: the Cloud Tasks server (tasks, PID {pid}) {how_it_ended(code)}; its log: "
        f"{shown(stack.log_path('tasks'))}. The queue is down: the rest keeps running, and "
        "submits are refused (503, not charged or refunded). `make queue-up` starts it "
        "again, with the tasks it had."
    )


class Replacement:
    """A function (api, worker) that make dev starts again when it ends, as Cloud Run
    replaces a crashed instance: after RestartBackoff's delay, then says when it answers."""

    def __init__(self) -> None:
        self.backoff = RestartBackoff()
        self.due: float | None = None  # down: start it again at this time
        self.booting = False  # started again, not answering yet
        self.ended_at = 0.0

    def ended(self, now: float) -> float:
        self.ended_at, self.booting = now, False
        delay = self.backoff.ended(now)
        self.due = now + delay
        return delay

    def tick(self, stack: LocalStack, name: str) -> None:
        now = time.monotonic()
        if self.due is not None and now >= self.due:
            self.due = None
            try:
                process = stack.start_function(name)
            except OSError as exc:
                err(f"make dev: the {WHAT[name]} ({name}) did not start: {exc}")
                self.ended(now)
                return
            self.backoff.started(now)
            self.booting = True
            say(f"[make dev] starting the {WHAT[name]} ({name}) again: PID {process.pid}")
        elif self.booting and name in stack.functions and stack.function_answers(name):
            self.booting = False
            say(
                f"[make dev] the {WHAT[name]} ({name}, PID {stack.functions[name].pid}) "
                f"answers again, {time.monotonic() - self.ended_at:.1f} s after it ended; "
                f"restarts: {self.backoff.restarts}"
            )


def function_ended(
    stack: LocalStack, name: str, pid: int, code: int, replacement: Replacement
) -> None:
    stack.end_function(name)
    delay = replacement.ended(time.monotonic())
    err(
        f"make dev: the {WHAT[name]} ({name}, PID {pid}) {how_it_ended(code)}; its log: "
        f"{shown(stack.log_path(name))}. Starting it again in {delay:.1f} s "
        f"(restart {replacement.backoff.restarts})."
    )


def firestore_ended(stack: LocalStack, pid: int, code: int) -> None:
    """The emulator keeps every document in memory and make dev exports them only when it
    stops: what was written since the last export is gone, so the stack stops (a restart
    from that export would quietly roll balances and creations back under running tasks)."""
    log = stack.log_path("firestore")
    try:
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        tail = []
    export = stack.firestore.imported if stack.firestore else None
    if export is not None:
        saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(export.stat().st_mtime))
        since = f"the last export ({shown(export.parent.parent)}, saved {saved}), loaded at start"
        next_run = "starts from that export"
    else:
        since = "this make dev started (there was no export to load)"
        next_run = "starts empty"
    err(
        f"make dev: the Firestore emulator (firestore, PID {pid}) {how_it_ended(code)}; "
        f"the end of its log ({shown(log)}):\n"
        + "".join(f"    {line}\n" for line in tail)
        + f"make dev: Firestore data lost: everything written since {since}: accounts and "
        "balances, ledger entries, creations and idempotency keys of this run (the emulator "
        f"held them in memory; make dev saves them only when it stops). The next make dev "
        f"{next_run}; tasks still queued for this run's creations are dropped by the worker "
        "(unknown_creation); `make dev FRESH=1` starts clean. Stopping everything."
    )


def restart_tasks_server(stack: LocalStack) -> None:
    """make queue-up asked for it: same ports, same SQLite file (--fresh never)."""
    try:
        tasks = stack.start_tasks_server(fresh=False)
    except (RuntimeError, OSError) as exc:
        reason = f"the Cloud Tasks server did not start: {exc}"
        (stack.run_dir / "queue-up-failed").write_text(reason + "\n")
        stack.queue_down_marker.write_text("")
        err(f"[make dev] {reason}")
        return
    say(f"[make dev] the Cloud Tasks server is up again (PID {tasks.pid}), with the tasks it had")


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
    pids = {name: process.pid for name, process in stack.processes().items()}
    jwks = f"http://127.0.0.1:{stack.ports.tasks_http}/jwks"
    pid_command = f"{shown(Path(sys.executable))} scripts/dev.py pid"
    say(
        f"""
Local stack running (Ctrl-C stops everything):
  web console     {stack.web_url}/  (operator dashboard {stack.web_url}/admin)
  api             {api}, PID {pids.get("api")}
  video_worker    {stack.worker_url}, PID {pids.get("worker")}
  Cloud Tasks     127.0.0.1:{stack.ports.tasks} (gRPC), JWKS {jwks}, PID {tasks}
  Firestore       127.0.0.1:{stack.ports.firestore} (emulator), PID {pids.get("firestore")}
  state, logs     {state}/ ({kept})

In the web console, sign in with any dev identity (a new one starts with 100 tokens);
`admin` is an operator. Or try it with curl (dev identity 'alice'):
  {submit}
  curl -s {api}/api/creations/CREATION_ID {who}
  curl -s {api}/api/tokens {who}
  curl -s {api}/api/health/queue

The queue outage: `make queue-down` stops this stack's Cloud Tasks server (so does killing
it: kill -9 $({pid_command} tasks)), `make queue-up` starts it again with its tasks. A killed
api or worker is started again; a killed Firestore stops everything (docs/local-development.md).
"""
    )


if __name__ == "__main__":
    sys.exit(main())
