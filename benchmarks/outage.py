"""What an outage costs, on the local stack; prints figures, asserts nothing.

1. The Cloud Tasks server dies: how many submits are charged and then refunded before the
   health gate closes (the rest are refused uncharged), for one sequential client and for
   20 parallel clients over 4 s.
2. It comes back: the time until /api/health/queue answers 200 again, and a submit is 202.
3. The Firestore emulator freezes (SIGSTOP) for 8 s during submits: how long a request
   waits before it is answered (STORE_DEADLINE_SECONDS, 5 s by default, bounds it).

Run: `.venv/bin/python benchmarks/outage.py` (also part of `make bench`).
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.processes import free_port  # noqa: E402
from devtools.stack import LocalStack, Ports  # noqa: E402

VIDEO = {"prompt": "a lighthouse in a storm"}
SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "5",  # the default: the old gate waited this out
    "MAX_IN_FLIGHT_VIDEOS": "0",
    "DEV_STARTING_TOKENS": "1000000",
}


def outcome(response: httpx.Response) -> str:
    if response.status_code == 503:
        body = response.json()
        if body.get("refunded"):
            return "charged_then_refunded"
        if body.get("charged") is False:
            return "refused_uncharged"
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
    stack: LocalStack, http: httpx.Client, freeze: float = 8.0
) -> tuple[list[float], Counter]:
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
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(submit, range(8)))
        time.sleep(max(0.0, freeze - max(waits)))
    finally:
        os.killpg(group, signal.SIGCONT)
    return waits, statuses


def main() -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    ports = Ports(*(free_port() for _ in range(5)))
    with (
        LocalStack(ports=ports, state_dir=state, settings=SETTINGS, quiet=True) as stack,
        httpx.Client(base_url=stack.api_url, timeout=60) as http,
    ):
        sequential = queue_outage(stack, http, parallel=1, seconds=4)
        healthy, accepted = reopen(stack, http)
        parallel = queue_outage(stack, http, parallel=20, seconds=4.2)
        healthy2, accepted2 = reopen(stack, http)
        waits, statuses = frozen_store(stack, http)
    print("queue outage, one sequential client over 4 s:", dict(sequential))
    print("queue outage, 20 parallel clients over 4.2 s:", dict(parallel))
    print(
        f"queue back: health 200 after {healthy:.2f} s / {healthy2:.2f} s, "
        f"a submit 202 after {accepted:.2f} s / {accepted2:.2f} s"
    )
    print(
        f"Firestore frozen 8 s: 8 submits answered after max {max(waits):.2f} s, "
        f"median {statistics.median(waits):.2f} s: {dict(statuses)}"
    )


if __name__ == "__main__":
    main()
