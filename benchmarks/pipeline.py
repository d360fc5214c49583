"""Figures of the pipeline on the local stack; prints them, asserts nothing.

1. At a simulated generation latency of 90 s: the time the functions spend busy per video
   (api submit + every worker step; a blocking worker would be busy the whole 90 s), and the
   delay from the end of generation to `draft`.
2. Submit latency p50 / p99: 200 sequential, then 200 concurrent (20 at a time).
3. With the Cloud Tasks server stopped: time to the 503 with the refund committed.

Run: `make bench` or `.venv/bin/python benchmarks/pipeline.py [--videos N] [--latency S]`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.processes import free_port  # noqa: E402
from devtools.stack import LocalStack, Ports  # noqa: E402

STEP_LINE = re.compile(r"task\.step creationId=(\S+) .* ms=([\d.]+)")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def stack(state_dir: Path, **settings: str) -> LocalStack:
    ports = Ports(*(free_port() for _ in range(5)))
    return LocalStack(ports=ports, state_dir=state_dir, settings=settings, quiet=True)


def wait_all_terminal(client: httpx.Client, jobs: dict[str, dict], deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        open_jobs = 0
        for cid, job in jobs.items():
            if job.get("final"):
                continue
            body = client.get(f"/api/creations/{cid}", headers=job["headers"]).json()
            if body["creation"]["status"] in ("draft", "failed", "cancelled"):
                job["final"] = body["creation"]
            else:
                open_jobs += 1
        if not open_jobs:
            return
        time.sleep(0.5)
    raise SystemExit("videos did not finish in time")


def busy_time(videos: int, latency: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        stack(Path(tmp), LOCAL_VIDEO_LATENCY_SECONDS=str(latency)) as s,
        httpx.Client(base_url=s.api_url, timeout=30) as client,
    ):
        jobs: dict[str, dict] = {}
        for n in range(videos):
            headers = {"Authorization": f"Bearer dev:busy{n}"}
            started = time.perf_counter()
            response = client.post(
                "/api/generate/video",
                headers=headers,
                json={"prompt": f"benchmark video {n}", "durationSeconds": 4},
            )
            submit_ms = (time.perf_counter() - started) * 1000
            jobs[response.json()["creationId"]] = {"headers": headers, "submit_ms": submit_ms}
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
        all_steps = [ms for cid in jobs for ms in step_ms[cid]]
        submits = [job["submit_ms"] for job in jobs.values()]
        statuses = sorted({job["final"]["status"] for job in jobs.values()})
        print(f"videos at {latency:.0f} s simulated generation: {videos} ({', '.join(statuses)})")
        print(
            f"  function busy time per video: mean {statistics.mean(busy):.2f} s, "
            f"max {max(busy):.2f} s (a blocking worker: {latency:.0f} s); "
            f"worker steps per video: {statistics.mean(steps):.0f}"
        )
        print(
            f"  of which: submit {submits[0]:.0f} ms for the first (the api's cold start), "
            f"median {statistics.median(submits):.0f} ms; worker step median "
            f"{statistics.median(all_steps):.0f} ms, max {max(all_steps):.0f} ms"
        )
        print(
            f"  generation end -> draft: mean {statistics.mean(delays):.2f} s, "
            f"max {max(delays):.2f} s"
        )


def submit_latency(total: int, concurrency: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        stack(
            Path(tmp),
            LOCAL_VIDEO_LATENCY_SECONDS="3600",
            DEV_STARTING_TOKENS="100000",
            QUEUE_HEALTH_TTL_SECONDS="300",
        ) as s,
        httpx.Client(
            base_url=s.api_url, timeout=30, limits=httpx.Limits(max_connections=concurrency)
        ) as client,
    ):

        def submit(n: int, user: str) -> float:
            started = time.perf_counter()
            response = client.post(
                "/api/generate/video",
                json={"prompt": f"latency {n}"},
                headers={"Authorization": f"Bearer dev:{user}"},
            )
            assert response.status_code == 202, response.text
            return (time.perf_counter() - started) * 1000

        submit(0, "warmup")
        sequential = [submit(n, "seq") for n in range(total)]
        with ThreadPoolExecutor(concurrency) as pool:
            concurrent = list(pool.map(lambda n: submit(n, f"conc{n % concurrency}"), range(total)))
        for name, values in (
            ("sequential", sequential),
            (f"concurrent ({concurrency} at a time)", concurrent),
        ):
            print(
                f"submit latency, {total} {name}: p50 {pct(values, 50):.1f} ms, "
                f"p99 {pct(values, 99):.1f} ms"
            )

        # The outage: the gate cached RUNNING a moment ago, then the queue goes away.
        assert client.get("/api/health/queue").status_code == 200
        s.stop_tasks_server()
        outage = []
        for n in range(20):
            started = time.perf_counter()
            response = client.post(
                "/api/generate/video",
                json={"prompt": f"outage {n}"},
                headers={"Authorization": "Bearer dev:outage"},
            )
            outage.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 503 and response.json()["refunded"] is True
        balance = client.get("/api/tokens", headers={"Authorization": "Bearer dev:outage"})
        print(
            f"queue down, 503 with the refund committed, 20 submits: p50 {pct(outage, 50):.0f}"
            f" ms, max {max(outage):.0f} ms; balance after: {balance.json()['balance']}"
            " of 100000"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5)
    parser.add_argument("--latency", type=float, default=90)
    parser.add_argument("--submits", type=int, default=200)
    args = parser.parse_args()
    busy_time(args.videos, args.latency)
    submit_latency(args.submits, 20)


if __name__ == "__main__":
    main()
