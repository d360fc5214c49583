"""Veo's quota on the local stack (issue 21): N users submit one video each at once, against a
provider quota of Q starts a minute; prints figures, asserts nothing.

The local generator plays Vertex AI's quota (LOCAL_VIDEO_QUOTA_PER_MINUTE = Q: a start beyond
Q in the last 60 s is refused with 429 RESOURCE_EXHAUSTED) with a short latency. The run is
made twice, each on a fresh stack: paced (the start queue dispatches VEO_STARTS_PER_MINUTE = Q
starts a minute, as terraform/queue.tf sets it) and with pacing off (VEO_STARTS_PER_MINUTE at
its maximum: every start is tried at once, and a refused one waits for the queue's backoff).

Printed for each run:
- the time from the first submit until the last video starts (its operation is created:
  the local generator's own record, `started_at`) and ends (`draft`: its `updatedAt`),
  against the ideal N/Q minutes (the ratio);
- the provider's 429s: `video.start_deferred` lines in the worker's log;
- the videos ended `draft`, `failed`, refunded (every one should be draft, none refunded);
- the error of `estimatedStartAt` (read from GET /api/creations/<id> right after each
  submit) against the video's real start: p50 and p95 of its absolute value, in seconds.

Each user submits one video (MAX_IN_FLIGHT_VIDEOS, 3 by default, is not reached). A submit
answered 503 with `retryable` is retried under the same Idempotency-Key (counted, printed).

Run: `make bench` or `.venv/bin/python benchmarks/veo_quota.py [--quota Q] [--users N]`
(default Q = 30, N = 90: about 3 minutes a run); `--quick`: Q = 60, N = 6 (make test's run,
tests/benchmarks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.stack import LocalStack, scratch_stack  # noqa: E402

LATENCY_SECONDS = 2.0  # the local generator's generation time
PACING_OFF = 6000.0  # VEO_STARTS_PER_MINUTE's maximum: 100 dispatches a second
TERMINAL = {"draft", "failed", "cancelled"}
SUBMITTERS = 32  # threads submitting at once
RETRY_DEADLINE = 60.0  # a submit answered a retryable 503 is retried this long


@dataclass
class Video:
    user: str
    prompt: str
    creation_id: str = ""
    submitted_at: float = 0.0  # epoch seconds, when its submit was sent
    estimated_start: float | None = None
    position: int | None = None
    started_at: float | None = None
    final: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    pace: float
    videos: list[Video]
    first_submit: float
    submits_over: float
    retries: int
    deferred: int
    unfinished: int

    def since_first(self, at: float | None) -> float | None:
        return None if at is None else at - self.first_submit


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer dev:{user}"}


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def submit(client: httpx.Client, video: Video, retries: list[int], lock: threading.Lock) -> None:
    """The submit, then at once the creation's queue position and estimated start."""
    headers = {**bearer(video.user), "Idempotency-Key": uuid.uuid4().hex}
    body = {"prompt": video.prompt, "durationSeconds": 4}
    deadline = time.monotonic() + RETRY_DEADLINE
    video.submitted_at = time.time()
    while True:
        response = client.post("/api/generate/video", json=body, headers=headers)
        if response.status_code == 202:
            break
        retryable = response.status_code == 503 and response.json().get("retryable")
        if not retryable or time.monotonic() > deadline:
            raise SystemExit(f"submit of {video.user}: {response.status_code} {response.text}")
        with lock:
            retries[0] += 1
        time.sleep(min(1.0, float(response.headers.get("Retry-After", "1"))))
    video.creation_id = str(response.json()["creationId"])
    read = client.get(f"/api/creations/{video.creation_id}", headers=bearer(video.user))
    creation = read.json()["creation"]
    if creation.get("estimatedStartAt"):
        video.estimated_start = epoch(creation["estimatedStartAt"])
        video.position = creation.get("queuePosition")
    elif creation["status"] != "pending":  # already started: its estimate is its start
        video.estimated_start = time.time()


def real_starts(stack: LocalStack) -> dict[str, float]:
    """The local generator's record of each operation it started: prompt -> started_at."""
    starts: dict[str, float] = {}
    for path in (stack.state_dir / "generator" / "operations").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written: read on the next pass
        starts[record["prompt"]] = float(record["started_at"])
    return starts


def wait_for_ends(client: httpx.Client, videos: list[Video], deadline: float) -> int:
    """Reads each unfinished creation until every one has ended or `deadline` (monotonic)
    passes; returns how many had not ended."""
    while True:
        open_videos = [v for v in videos if not v.final]
        for video in open_videos:
            read = client.get(f"/api/creations/{video.creation_id}", headers=bearer(video.user))
            if read.status_code == 200 and read.json()["creation"]["status"] in TERMINAL:
                video.final = read.json()["creation"]
        left = sum(1 for v in videos if not v.final)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1.0)


def one_run(quota: int, users: int, pace: float) -> Outcome:
    settings = {
        "LOCAL_VIDEO_QUOTA_PER_MINUTE": str(quota),
        "VEO_STARTS_PER_MINUTE": f"{pace:g}",
        "LOCAL_VIDEO_LATENCY_SECONDS": f"{LATENCY_SECONDS:g}",
    }
    run_id = uuid.uuid4().hex[:8]
    videos = [
        Video(f"veo-quota-{run_id}-{n}", f"veo quota {run_id} video {n}") for n in range(users)
    ]
    retries, lock = [0], threading.Lock()
    with (
        scratch_stack(settings, "bench-veo-quota-") as stack,
        httpx.Client(base_url=stack.api_url, timeout=60) as client,
    ):
        client.get("/api/health")  # the api is warm before the burst
        with ThreadPoolExecutor(min(SUBMITTERS, users)) as pool:
            for future in [pool.submit(submit, client, v, retries, lock) for v in videos]:
                future.result()
        first = min(v.submitted_at for v in videos)
        submits_over = max(v.submitted_at for v in videos) - first
        ideal = users / quota * 60
        unfinished = wait_for_ends(client, videos, time.monotonic() + 4 * ideal + 120)
        starts = real_starts(stack)
        for video in videos:
            video.started_at = starts.get(video.prompt)
        log = stack.log_path("worker").read_text(errors="replace")
        deferred = log.count("video.start_deferred")
    return Outcome(pace, videos, first, submits_over, retries[0], deferred, unfinished)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def report(name: str, quota: int, o: Outcome) -> None:
    users = len(o.videos)
    ideal = users / quota * 60
    starts = [o.since_first(v.started_at) for v in o.videos if v.started_at is not None]
    ends = [
        epoch(v.final["updatedAt"]) - o.first_submit
        for v in o.videos
        if v.final.get("status") == "draft"
    ]
    last_start = max((s for s in starts if s is not None), default=float("nan"))
    last_end = max(ends, default=float("nan"))
    statuses = [v.final.get("status") for v in o.videos]
    refunded = sum(1 for v in o.videos if v.final.get("refunded"))
    errors = [
        abs(v.estimated_start - v.started_at)
        for v in o.videos
        if v.estimated_start is not None and v.started_at is not None
    ]
    late = [
        v.started_at - v.estimated_start
        for v in o.videos
        if v.estimated_start is not None and v.started_at is not None
    ]
    print(f"  {name} (VEO_STARTS_PER_MINUTE={o.pace:g}):")
    print(
        f"    last start {last_start:.1f} s, last end {last_end:.1f} s after the first submit; "
        f"ideal N/Q {ideal:.1f} s: ratio start {last_start / ideal:.2f}x, "
        f"end {last_end / ideal:.2f}x"
    )
    print(
        f"    provider 429s (video.start_deferred): {o.deferred}; videos draft "
        f"{statuses.count('draft')} of {users}, failed {statuses.count('failed')}, "
        f"cancelled {statuses.count('cancelled')}, refunded {refunded}, "
        f"not ended {o.unfinished}"
    )
    if errors:
        print(
            f"    estimatedStartAt vs real start over {len(errors)} videos: |error| "
            f"p50 {percentile(errors, 50):.1f} s, p95 {percentile(errors, 95):.1f} s, "
            f"max {max(errors):.1f} s; real start later than estimated by median "
            f"{statistics.median(late):+.1f} s"
        )
    else:
        print("    estimatedStartAt vs real start: no video with both")
    print(f"    submits spread over {o.submits_over:.1f} s; retried after a 503: {o.retries}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quota", type=int, help="Q: the provider's starts a minute")
    parser.add_argument("--users", type=int, help="N: users submitting one video each")
    parser.add_argument("--quick", action="store_true", help="Q = 60, N = 6 (make test)")
    args = parser.parse_args()
    quota = args.quota or (60 if args.quick else 30)
    users = args.users or (6 if args.quick else 90)
    runs = [("paced", float(quota)), ("pacing off", PACING_OFF)]
    outcomes = [(name, one_run(quota, users, pace)) for name, pace in runs]
    print(
        f"veo quota: Q={quota} starts/min (LOCAL_VIDEO_QUOTA_PER_MINUTE), N={users} users "
        f"submitting one video each at once, generation {LATENCY_SECONDS:g} s:"
    )
    for name, outcome in outcomes:
        report(name, quota, outcome)
    failed = sum(1 for _, o in outcomes for v in o.videos if v.final.get("status") != "draft")
    if failed:
        raise SystemExit(f"{failed} videos did not end draft")


if __name__ == "__main__":
    main()
