"""What an outage costs, on the local stack; prints figures, asserts nothing.

1. The Cloud Tasks server dies: how many submits are charged and then refunded before the
   health gate closes (the rest are refused uncharged), for one sequential client and for
   20 parallel clients over 4 s.
2. It comes back: the time until /api/health/queue answers 200 again, and a submit is 202.
3. The Firestore emulator freezes (SIGSTOP) for 8 s, or until the last of 8 submits made
   meanwhile (4 at a time) is answered: how long a request waits before it is answered
   (STORE_DEADLINE_SECONDS, 5 s by default, bounds it).

The in-flight limit is lifted for the run (MAX_IN_FLIGHT_VIDEOS=0): each part's clients
submit as one user, as fast as they are answered, which the limit would refuse with 429.

Run: `.venv/bin/python benchmarks/outage.py` (also part of `make bench`); `--quick`: each
part once, shorter and with fewer clients (1 s outages, 4 clients, a 2 s freeze), the run
that `make test` makes (tests/benchmarks).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.stack import LocalStack, scratch_stack  # noqa: E402

VIDEO = {"prompt": "a lighthouse in a storm"}
SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "5",  # the default: the old gate waited this out
    "MAX_IN_FLIGHT_VIDEOS": "0",  # no limit: see the docstring
    "STARTING_TOKENS": "1000000",
}


def outcome(response: httpx.Response) -> str:
    if response.status_code == 503:
        body = response.json()
        if body.get("refunded"):
            return "charged_then_refunded"
        if body.get("charged") is False:
            return "refused_uncharged"
        if body.get("charged") is True:
            # the refund could not be written at once (the store was busy with this user's
            # other requests): the reconciler refunds it; the answer says so
            return "charged_refund_deferred"
        return f"503_{body.get('code')}"
    return str(response.status_code)


def wait(probe, deadline: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if probe():
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit("timed out")


def queue_outage(stack: LocalStack, http: httpx.Client, parallel: int, seconds: float) -> Counter:
    wait(lambda: http.get("/api/health/queue").status_code == 200)
    headers = {"Authorization": f"Bearer dev:outage-{parallel}"}
    http.post("/api/generate/video", json=VIDEO, headers=headers)  # the gate sees it running
    stack.stop_tasks_server()
    outcomes: Counter = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=stack.api_url, timeout=30) as own:
            while time.monotonic() < end:
                result = outcome(own.post("/api/generate/video", json=VIDEO, headers=headers))
                with lock:
                    outcomes[result] += 1

    with ThreadPoolExecutor(parallel) as pool:
        for _ in range(parallel):
            pool.submit(client)
    return outcomes


def reopen(stack: LocalStack, http: httpx.Client) -> tuple[float, float]:
    stack.start_tasks_server()
    started = time.monotonic()
    healthy = wait(lambda: http.get("/api/health/queue").status_code == 200)
    headers = {"Authorization": "Bearer dev:reopen"}
    wait(lambda: http.post("/api/generate/video", json=VIDEO, headers=headers).status_code == 202)
    return healthy, time.monotonic() - started


def frozen_store(
    stack: LocalStack, http: httpx.Client, freeze: float, submits: int
) -> tuple[list[float], Counter, float]:
    """`submits` submits, 4 at a time, while the emulator is stopped: for `freeze` seconds,
    or until the last is answered if that is later; returns the waits, the answers and how
    long the emulator was stopped."""
    assert stack.firestore and stack.firestore.process
    group = stack.firestore.process.pid
    waits: list[float] = []
    statuses: Counter = Counter()

    def submit(n: int) -> None:
        headers = {"Authorization": f"Bearer dev:frozen-{n}"}
        started = time.monotonic()
        response = http.post("/api/generate/video", json=VIDEO, headers=headers)
        waits.append(time.monotonic() - started)
        statuses[f"{response.status_code} {response.json().get('code', '')}".strip()] += 1

    os.killpg(group, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        with ThreadPoolExecutor(min(4, submits)) as pool:
            list(pool.map(submit, range(submits)))
        time.sleep(max(0.0, freeze - max(waits)))
    finally:
        os.killpg(group, signal.SIGCONT)
    return waits, statuses, time.monotonic() - stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="each part once, shorter (make test's run)"
    )
    quick = parser.parse_args().quick
    seconds, parallel, freeze, frozen_submits = (1.0, 4, 2.0, 2) if quick else (4.0, 20, 8.0, 8)
    with (
        scratch_stack(SETTINGS, "bench-outage-") as stack,
        httpx.Client(base_url=stack.api_url, timeout=60) as http,
    ):
        sequential = queue_outage(stack, http, parallel=1, seconds=seconds)
        healthy, accepted = reopen(stack, http)
        parallel_outcomes = queue_outage(stack, http, parallel=parallel, seconds=seconds + 0.2)
        healthy2, accepted2 = reopen(stack, http)
        waits, statuses, frozen = frozen_store(stack, http, freeze, frozen_submits)
    print(f"queue outage, one sequential client over {seconds:g} s:", dict(sequential))
    print(
        f"queue outage, {parallel} parallel clients over {seconds + 0.2:g} s:",
        dict(parallel_outcomes),
    )
    print(
        f"queue back: health 200 after {healthy:.2f} s / {healthy2:.2f} s, "
        f"a submit 202 after {accepted:.2f} s / {accepted2:.2f} s"
    )
    print(
        f"Firestore frozen {frozen:.1f} s: {len(waits)} submits answered after max "
        f"{max(waits):.2f} s, median {statistics.median(waits):.2f} s: {dict(statuses)}"
    )


if __name__ == "__main__":
    main()
