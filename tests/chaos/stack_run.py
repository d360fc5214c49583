"""Part two: many users on the real local stack while its processes are killed and the
Firestore emulator is frozen; then the invariants.

1. Start the whole stack (Firestore emulator, local Cloud Tasks server, api, worker) with
   short timings, and the load (tests/chaos/load.py, locust) in a process of its own.
2. While the load runs, a chaos thread kills (SIGKILL) and restarts the Cloud Tasks server,
   the worker or the api, freezes the emulator (SIGSTOP/SIGCONT) for seconds, and asks for
   reconcile sweeps the way Cloud Scheduler does.
3. Then: every process up again; wait for the creations to end; the reconciler on a clock
   moved past STALE_AFTER (lost tasks re-queued), then past the deadline (the rest failed
   and refunded) - the clock jump stands for the minutes a real run would wait.
4. Check: `python -m shared.audit audit` (the operator's tool) exits 0; every creation is
   terminal; no 500 and no answer outside each route's contract; no generation started
   twice (the local generator's operations, by prompt); print req/s, p50/p99 per route,
   status counts, kills by kind.

`python -m tests.chaos.stack_run --users 50 --seconds 300` (make chaos-stack).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.processes import free_port
from devtools.stack import PROJECT, ROOT, Ports
from tests.chaos.stack import ChaosStack

STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "2",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "2",
    "START_TIMEOUT_SECONDS": "15",
    "VIDEO_DEADLINE_SECONDS": "300",
    "STALE_AFTER_SECONDS": "62",
    # Starts as fast as the generator takes them: the load's videos must all end within the
    # settling time (the paced start queue at 10 a minute would hold most of them in line).
    "VEO_STARTS_PER_MINUTE": "600",
    "STARTING_TOKENS": "1000",
}
FAULTS = ("tasks", "worker", "api", "freeze", "sweep")
WEIGHTS = (2, 3, 2, 2, 1)


@dataclass
class StackResult:
    load: dict[str, Any]
    faults: Counter
    audit: dict[str, Any]
    settled: dict[str, Any]
    starts: dict[str, int]
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        load = self.load
        out = [
            f"users {load['users']}, {load['seconds']:.0f} s, requests {load['requests']}, "
            f"{load['rps']:.1f} req/s, p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms",
            "faults: " + _join(self.faults),
            "status counts (0 = no answer, the process was down): "
            + ", ".join(f"{s} {n}" for s, n in load["statuses"].items()),
        ]
        for name, e in load["endpoints"].items():
            out.append(
                f"  {name}: {e['requests']} requests, {e['rps']:.1f}/s, p50 {e['p50_ms']:.0f} ms,"
                f" p99 {e['p99_ms']:.0f} ms"
            )
        out += [
            "settling: " + ", ".join(f"{k} {v}" for k, v in self.settled.items()),
            "creations: "
            + ", ".join(f"{k} {n}" for k, n in self.audit.get("byStatus", {}).items()),
            f"tokens: {self.audit.get('tokens')}",
            f"generations started {self.starts.get('total', 0)}, "
            f"by the most started prompt {self.starts.get('max', 0)}",
            f"audit violations: {self.audit.get('violations') or 0}",
            f"violations: {len(self.violations)}",
        ]
        out += [f"  {v}" for v in self.violations[:30]]
        out += [f"note: {n}" for n in self.notes]
        return out


def _join(counter: Counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items())) or "none"


def chaos(
    stack: ChaosStack,
    stop: threading.Event,
    rng: random.Random,
    every: float,
    freeze_max: float,
    faults: Counter,
    notes: list[str],
) -> None:
    """Until `stop`: every `every` seconds or so, one fault (or a scheduler sweep)."""
    while not stop.wait(rng.uniform(0.5, 1.5) * every):
        kind = rng.choices(FAULTS, WEIGHTS)[0]
        try:
            if kind == "freeze":
                stack.freeze(rng.uniform(1.0, freeze_max))
                faults["firestore frozen"] += 1
            elif kind == "sweep":
                stack.schedule_reconcile()
                faults["reconcile sweeps asked"] += 1
            else:
                stack.kill(kind, down=rng.uniform(0.2, 2.5))
                faults[f"{kind} killed"] += 1
        except Exception as exc:  # e.g. a sweep asked while the queue is down
            notes.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")


@contextlib.contextmanager
def emulator_env(stack: ChaosStack) -> Iterator[None]:
    """FIRESTORE_EMULATOR_HOST (read by the SDK) for this process, restored afterwards."""
    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{stack.ports.firestore}"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved


def open_creations(client: Any) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = client.collection("creations").where(
        filter=FieldFilter("status", "in", ["pending", "processing"])
    )
    return sum(1 for _ in query.stream(timeout=30))


def wait_settled(client: Any, limit: float, quiet_for: float) -> int:
    """Wait until no creation is open, or none ended for `quiet_for` s, or `limit` s."""
    end = time.monotonic() + limit
    last, since = open_creations(client), time.monotonic()
    while last and time.monotonic() < end and time.monotonic() - since < quiet_for:
        time.sleep(1)
        now = open_creations(client)
        if now != last:
            last, since = now, time.monotonic()
    return last


SWEEP_RETRY_SECONDS = 180


def sweep_ahead(stack: ChaosStack, seconds: float) -> Counter:
    """The reconciler (the real service, the stack's store and queue) on a clock `seconds`
    ahead, until it finds nothing more to do."""
    from shared.bootstrap import Container
    from shared.config import settings_from_env
    from shared.services.reconcile import reconcile

    settings = settings_from_env(stack.env())
    deps = Container(settings, clock=lambda: datetime.now(UTC) + timedelta(seconds=seconds))
    done: Counter = Counter()
    # A sweep that meets an error is tried again, as Cloud Scheduler's next run would: a
    # transaction left open by a killed api holds its documents' locks in the emulator
    # until the emulator gives up on it. Bounded: SWEEP_RETRY_SECONDS at most.
    give_up = time.monotonic() + SWEEP_RETRY_SECONDS
    for _ in range(200):
        report = reconcile(deps, limit=500)
        done["requeued"] += len(report.requeued)
        done["failed"] += len(report.failed)
        done["errors"] += len(report.errors)
        if report.errors and time.monotonic() < give_up:
            time.sleep(2)
            continue
        if not (report.requeued or report.failed):
            break
    return done


def settle(stack: ChaosStack, client: Any) -> dict[str, Any]:
    settings = STACK_SETTINGS
    stale = float(settings["STALE_AFTER_SECONDS"]) + 1
    deadline = float(settings["VIDEO_DEADLINE_SECONDS"]) + stale
    started = time.monotonic()
    result: dict[str, Any] = {"open at the end of the load": open_creations(client)}
    result["open after waiting"] = wait_settled(client, limit=40, quiet_for=6)
    requeued = sweep_ahead(stack, stale)
    result["re-queued by a sweep past STALE_AFTER"] = requeued["requeued"]
    result["ended by that sweep"] = requeued["failed"]
    result["open after the re-queued ran"] = wait_settled(client, limit=30, quiet_for=6)
    ended = sweep_ahead(stack, deadline)
    result["failed + refunded by a sweep past the deadline"] = ended["failed"]
    result["sweep errors (retried)"] = requeued["errors"] + ended["errors"]
    result["open at last"] = open_creations(client)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def generator_starts(state_dir: Path, client: Any) -> tuple[dict[str, int], list[str]]:
    """Operations the local generator started, by prompt, against the creations that carry
    that prompt (each new request has a prompt of its own; a replay the same one)."""
    starts: Counter = Counter()
    for path in (state_dir / "generator" / "operations").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            starts[json.loads(path.read_text())["prompt"]] += 1
    creations: Counter = Counter(
        (s.to_dict() or {}).get("prompt") for s in client.collection("creations").stream()
    )
    twice = [
        f"generation started {n} times for prompt {p!r} ({creations[p]} creations)"
        for p, n in sorted(starts.items())
        if n > creations[p]
    ]
    figures = {"total": sum(starts.values()), "max": max(starts.values(), default=0)}
    return figures, twice


def run_audit(stack: ChaosStack) -> tuple[dict[str, Any], list[str]]:
    """`python -m shared.audit audit`, as an operator runs it."""
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{stack.ports.firestore}"}
    command = [sys.executable, "-m", "shared.audit", "audit", "--project", PROJECT, "--live"]
    command += ["--grace-minutes", "0"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode not in (0, 1):
        return {}, [f"the audit could not run: {done.stderr.strip()[-500:]}"]
    figures = json.loads(done.stdout)
    if done.returncode == 0:
        return figures, []
    listed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT).stdout
    return figures, [line.strip() for line in listed.splitlines() if line.startswith("  ")]


def run(
    users: int = 12,
    seconds: float = 25,
    every: float = 4.0,
    freeze_max: float = 4.0,
    seed: int | None = None,
    state_dir: Path | None = None,
    say: Any = print,
) -> StackResult:
    seed = seed if seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    state_dir = Path(state_dir or tempfile.mkdtemp(prefix="chaos-stack-"))
    say(f"chaos-stack: seed {seed}, {users} users for {seconds:.0f} s, state in {state_dir}")
    stack = ChaosStack(
        ports=Ports(*(free_port() for _ in range(5))),
        state_dir=state_dir,
        settings=STACK_SETTINGS,
        quiet=True,
    )
    faults: Counter = Counter()
    notes: list[str] = []
    with stack, emulator_env(stack):
        from google.cloud import firestore

        out = state_dir / "load.json"
        load = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.load", "--host", stack.api_url,
             "--users", str(users), "--seconds", str(seconds), "--out", str(out)],
            stdout=subprocess.DEVNULL, stderr=open(state_dir / "load.log", "w"),  # noqa: SIM115
            cwd=ROOT,
        )  # fmt: skip
        stop = threading.Event()
        monkey = threading.Thread(
            target=chaos, args=(stack, stop, rng, every, freeze_max, faults, notes), daemon=True
        )
        monkey.start()
        try:
            load.wait(timeout=seconds + 180)
        finally:
            stop.set()
            monkey.join(timeout=120)
            if load.poll() is None:
                load.kill()
        restarted = stack.heal()
        if restarted:
            notes.append(f"restarted after the load: {', '.join(restarted)}")
        if load.returncode != 0 or not out.exists():
            log = (state_dir / "load.log").read_text()[-3000:]
            raise RuntimeError(f"the load process failed ({load.returncode}):\n{log}")
        figures = json.loads(out.read_text())
        client = firestore.Client(project=PROJECT)
        try:
            settled = settle(stack, client)
            audit, audit_violations = run_audit(stack)
            starts, twice = generator_starts(state_dir, client)
        finally:
            client.close()
    violations = [f"audit {v}" for v in audit_violations] + twice
    violations += [f"answer outside the contract: {f}" for f in figures["findings"]]
    fives = {k: n for k, n in figures["by_route"].items() if k.endswith(" 500")}
    violations += [f"500 answers: {k}: {n}" for k, n in fives.items()]
    if settled["open at last"]:
        violations.append(f"{settled['open at last']} creations not terminal at the end")
    return StackResult(figures, faults, audit, settled, starts, violations, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.stack_run", description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--every", type=float, default=5.0, help="mean seconds between faults")
    parser.add_argument("--freeze-max", type=float, default=6.0)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--state-dir", type=Path)
    args = parser.parse_args(argv)
    result = run(args.users, args.seconds, args.every, args.freeze_max, args.seed, args.state_dir)
    for line in result.lines():
        print(line)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
