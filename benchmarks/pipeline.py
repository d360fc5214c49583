"""Figures of the pipeline on the local stack; prints them, asserts nothing.

1. At a simulated generation latency of 90 s: the time the functions spend busy per video
   (api submit + every worker step; a blocking worker would be busy the whole 90 s), and the
   delay from the end of generation to `draft`.
2. Submit latency p50 / p99: 200 sequential, then 200 concurrent (20 at a time). The load is
   spread over users as real traffic is: the in-flight limit (MAX_IN_FLIGHT_VIDEOS, 3 by
   default) stays on, so each user submits at most that many, and every user's account
   exists before the timed submits (a user's first request creates it).
3. With the Cloud Tasks server stopped: the time to the 503 (the first submit charged then
   refunded, the next ones refused uncharged once the gate closed), and the balance after.

One stack serves the three parts, in that order. A submit answered 503 retryable (the store
missed its deadline on a loaded machine) is retried as the app retries it (same
Idempotency-Key); the figures include the retries and say how many there were.

Run: `make bench` or `.venv/bin/python benchmarks/pipeline.py [--videos N] [--latency S]
[--submits N]`; `--quick`: a few iterations of each part (2 videos at 2 s, 9 submits),
the run that `make test` makes (tests/benchmarks).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.stack import LocalStack, scratch_stack  # noqa: E402

STEP_LINE = re.compile(r"task\.step creationId=(\S+) .* ms=([\d.]+)")
IN_FLIGHT_LIMIT = 3  # the default of MAX_IN_FLIGHT_VIDEOS, kept for the run
STARTING_TOKENS = 100_000  # each dev user's grant: enough for any run
TERMINAL = ("draft", "failed", "cancelled")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev:{user}"}


def wait_all_terminal(client: httpx.Client, jobs: dict[str, dict], deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        open_jobs = 0
        for cid, job in jobs.items():
            if job.get("final"):
                continue
            body = client.get(f"/api/creations/{cid}", headers=job["headers"]).json()
            if body["creation"]["status"] in TERMINAL:
                job["final"] = body["creation"]
            else:
                open_jobs += 1
        if not open_jobs:
            return
        time.sleep(0.5)
    raise SystemExit(f"videos did not finish in {deadline:.0f} s")


class Submitter:
    """Submits a video as the app does: a retryable 503 (the store took longer than its
    deadline: a loaded machine, a cold api) is retried under the same Idempotency-Key after
    its Retry-After (at most 1 s here), for up to RETRY_DEADLINE seconds; the retries are
    counted and printed with the figures, whose times include them. Any other answer than
    202 stops the run, saying what was answered."""

    RETRY_DEADLINE = 60.0

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.retries = 0

    def __call__(self, user: str, body: dict, what: str) -> str:
        headers = {**bearer(user), "Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + self.RETRY_DEADLINE
        while True:
            response = self.client.post("/api/generate/video", json=body, headers=headers)
            if response.status_code == 202:
                return str(response.json()["creationId"])
            retryable = response.status_code == 503 and response.json().get("retryable")
            if not retryable or time.monotonic() > deadline:
                raise SystemExit(f"{what}: {response.status_code} {response.text}")
            self.retries += 1
            time.sleep(min(1.0, float(response.headers.get("Retry-After", "1"))))

    def note(self) -> str:
        return f"; retried after a 503: {self.retries}" if self.retries else ""


def busy_time(s: LocalStack, client: httpx.Client, videos: int, latency: float) -> None:
    jobs: dict[str, dict] = {}
    submit = Submitter(client)
    for n in range(videos):
        user = f"busy{n}"
        started = time.perf_counter()
        cid = submit(user, {"prompt": f"benchmark video {n}", "durationSeconds": 4}, f"video {n}")
        submit_ms = (time.perf_counter() - started) * 1000
        jobs[cid] = {"headers": bearer(user), "submit_ms": submit_ms}
    wait_all_terminal(client, jobs, latency * 3 + 60)

    step_ms: dict[str, list[float]] = {cid: [] for cid in jobs}
    for line in (s.state_dir / "worker.log").read_text().splitlines():
        if match := STEP_LINE.search(line):
            step_ms.setdefault(match[1], []).append(float(match[2]))
    operations = {}
    for path in (s.state_dir / "generator" / "operations").glob("*.json"):
        record = json.loads(path.read_text())
        operations[record["prompt"]] = record
    busy, delays, steps = [], [], []
    for cid, job in jobs.items():
        final = job["final"]
        busy.append((job["submit_ms"] + sum(step_ms[cid])) / 1000)
        steps.append(len(step_ms[cid]))
        record = operations[final["prompt"]]
        generation_end = float(record["started_at"]) + latency
        drafted = datetime.fromisoformat(final["updatedAt"]).timestamp()
        delays.append(drafted - generation_end)
    all_steps = [ms for cid in jobs for ms in step_ms[cid]] or [0.0]
    submits = [job["submit_ms"] for job in jobs.values()]
    statuses = sorted({job["final"]["status"] for job in jobs.values()})
    print(f"videos at {latency:g} s simulated generation: {videos} ({', '.join(statuses)})")
    print(
        f"  function busy time per video: mean {statistics.mean(busy):.2f} s, "
        f"max {max(busy):.2f} s (a blocking worker: {latency:g} s); "
        f"worker steps per video: {statistics.mean(steps):.0f}"
    )
    print(
        f"  of which: submit {submits[0]:.0f} ms for the first (the api's cold start), "
        f"median {statistics.median(submits):.0f} ms; worker step median "
        f"{statistics.median(all_steps):.0f} ms, max {max(all_steps):.0f} ms{submit.note()}"
    )
    print(
        f"  generation end -> draft: mean {statistics.mean(delays):.2f} s, max {max(delays):.2f} s"
    )


def users_for(prefix: str, submits: int) -> list[str]:
    """Enough users that none has more than IN_FLIGHT_LIMIT of `submits` in flight."""
    return [f"{prefix}{u}" for u in range(-(-submits // IN_FLIGHT_LIMIT))]


def create_accounts(client: httpx.Client, users: list[str]) -> None:
    for user in users:
        response = client.get("/api/tokens", headers=bearer(user))
        if response.status_code != 200:
            raise SystemExit(f"account of {user}: {response.status_code} {response.text}")


def submit_latency(client: httpx.Client, total: int, concurrency: int) -> None:
    submitter = Submitter(client)

    def submit(n: int, user: str) -> float:
        started = time.perf_counter()
        submitter(user, {"prompt": f"latency {n}"}, f"submit {n} of {user}")
        return (time.perf_counter() - started) * 1000

    sequential_users = users_for("seq", total)
    concurrent_users = users_for("conc", total)
    create_accounts(client, ["warmup", *sequential_users, *concurrent_users])
    submit(0, "warmup")
    submitter.retries = 0  # the ones of the warm-up are not part of the figures
    # Submit n goes to user n % users: a user's submits are `users` apart, so the ones a
    # user makes concurrently never overlap, and none goes past the limit.
    sequential = [submit(n, sequential_users[n % len(sequential_users)]) for n in range(total)]
    with ThreadPoolExecutor(concurrency) as pool:
        concurrent = list(
            pool.map(lambda n: submit(n, concurrent_users[n % len(concurrent_users)]), range(total))
        )
    for name, values, users in (
        ("sequential", sequential, sequential_users),
        (f"concurrent ({concurrency} at a time)", concurrent, concurrent_users),
    ):
        print(
            f"submit latency, {total} {name} over {len(users)} users: "
            f"p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms"
        )
    if submitter.retries:
        print(f"  (of those submits, retried after a 503: {submitter.retries})")


def queue_down(s: LocalStack, client: httpx.Client, submits: int) -> None:
    """The gate cached RUNNING a moment ago, then the queue goes away."""
    create_accounts(client, ["outage"])
    health = client.get("/api/health/queue")
    if health.status_code != 200:
        raise SystemExit(f"the queue is not healthy before the outage: {health.text}")
    s.stop_tasks_server()
    times: list[float] = []
    outcomes: Counter[str] = Counter()
    for n in range(submits):
        started = time.perf_counter()
        response = client.post(
            "/api/generate/video", json={"prompt": f"outage {n}"}, headers=bearer("outage")
        )
        times.append((time.perf_counter() - started) * 1000)
        body = response.json() if response.status_code == 503 else {}
        if body.get("refunded") is True:
            outcomes["charged then refunded"] += 1
        elif body.get("charged") is False:
            outcomes["refused uncharged"] += 1
        else:
            outcomes[f"{response.status_code} {body.get('code', '')}".strip()] += 1
    balance = client.get("/api/tokens", headers=bearer("outage")).json()["balance"]
    print(
        f"queue down, {submits} submits answered 503: p50 {pct(times, 50):.0f} ms, "
        f"max {max(times):.0f} ms; {', '.join(f'{k} {v}' for k, v in outcomes.items())}; "
        f"balance after: {balance} of {STARTING_TOKENS}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5)
    parser.add_argument("--latency", type=float, default=90)
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--outage-submits", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="a few iterations of each part (make test's run)"
    )
    args = parser.parse_args()
    if args.quick:
        args.videos, args.latency, args.submits = 2, 2.0, 9
        args.concurrency, args.outage_submits = 3, 3
    settings = {
        "LOCAL_VIDEO_LATENCY_SECONDS": str(args.latency),
        "STARTING_TOKENS": str(STARTING_TOKENS),
        "MAX_IN_FLIGHT_VIDEOS": str(IN_FLIGHT_LIMIT),
        # The gate keeps its last answer: the outage is seen by the first failed enqueue.
        "QUEUE_HEALTH_TTL_SECONDS": "300",
    }
    with (
        scratch_stack(settings) as s,
        httpx.Client(
            base_url=s.api_url, timeout=30, limits=httpx.Limits(max_connections=args.concurrency)
        ) as client,
    ):
        busy_time(s, client, args.videos, args.latency)
        submit_latency(client, args.submits, args.concurrency)
        queue_down(s, client, args.outage_submits)


if __name__ == "__main__":
    main()
