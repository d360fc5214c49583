"""How long the queue gate stays closed after the queue comes back, when nothing runs between
requests; prints figures, asserts nothing.

Cloud Functions (2nd gen) run on Cloud Run, which by default gives an instance CPU only
while it handles a request. Here the api process of the local stack is frozen (SIGSTOP to
its process group: gunicorn and its worker) between requests and thawed (SIGCONT) for each
one, so no thread of it can run outside a request. One client submits a video every N ms.
For each N: the Cloud Tasks server is stopped (the gate closes on the first failed submit,
the next ones are refused uncharged), the closed gate is left for 2 s of submits, the
server is started again, and the time from its return (it serves) to the first accepted
submit (202) is measured, with the number of submits refused meanwhile.

The gate probes the queue inside the first request that comes QUEUE_RECHECK_SECONDS (1 s by
default) after its last probe, so the expected figure is up to about that, plus N.

Run: `make bench` or `.venv/bin/python benchmarks/gate_reopen.py [N_ms ...]` (default: 50
250 1000); `--quick`: one run at 250 ms with the gate closed for 0.5 s (make test's run,
tests/benchmarks).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.stack import LocalStack, scratch_stack  # noqa: E402

VIDEO = {"prompt": "a lighthouse in a storm"}
SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "5",  # the defaults
    "QUEUE_RECHECK_SECONDS": "1",
    "MAX_IN_FLIGHT_VIDEOS": "1000",
    "STARTING_TOKENS": "1000000",
}
RUNS = 3
CLOSED_FOR = 2.0  # seconds of submits against the closed gate before the queue returns
DEADLINE = 60.0


class FrozenBetweenRequests:
    """The api's process group runs only while a request of ours is in flight."""

    def __init__(self, stack: LocalStack) -> None:
        self.group = stack.functions["api"].pid  # spawned in a session of its own
        self.http = httpx.Client(base_url=stack.api_url, timeout=30)
        # A new connection per request: gunicorn's keep-alive timer (2 s) runs out while it
        # is frozen and would close a kept connection just as the next request arrives.
        self.headers = {"Authorization": "Bearer dev:gate-reopen", "Connection": "close"}
        os.killpg(self.group, signal.SIGSTOP)

    @contextmanager
    def request(self) -> Iterator[None]:
        os.killpg(self.group, signal.SIGCONT)
        try:
            yield
        finally:
            os.killpg(self.group, signal.SIGSTOP)

    def submit(self) -> int:
        with self.request():
            return self.http.post(
                "/api/generate/video", json=VIDEO, headers=self.headers
            ).status_code

    def close(self) -> None:
        os.killpg(self.group, signal.SIGCONT)
        self.http.close()


def every(interval: float) -> Iterator[float]:
    """Ticks `interval` apart (a late tick is not made up), until DEADLINE."""
    start = time.monotonic()
    next_tick = start
    while time.monotonic() - start < DEADLINE:
        now = time.monotonic()
        if now < next_tick:
            time.sleep(next_tick - now)
        yield time.monotonic()
        next_tick = max(next_tick + interval, time.monotonic())
    raise SystemExit(f"no outcome within {DEADLINE} s")


def one_run(
    stack: LocalStack, api: FrozenBetweenRequests, interval: float, closed_for: float = CLOSED_FOR
) -> tuple[float, int]:
    for _ in every(interval):  # the gate is open
        if api.submit() == 202:
            break
    stack.stop_tasks_server()
    for _ in every(interval):  # the first failed submit closes it
        if api.submit() == 503 and api.submit() == 503:
            break
    closed_until = time.monotonic() + closed_for
    for now in every(interval):
        api.submit()
        if now >= closed_until:
            break
    stack.start_tasks_server()
    back = time.monotonic()
    for refused, _ in enumerate(every(interval)):
        if api.submit() == 202:
            return time.monotonic() - back, refused
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("intervals", nargs="*", type=int, metavar="N_ms")
    parser.add_argument("--quick", action="store_true", help="one run at 250 ms (make test)")
    args = parser.parse_args()
    intervals = args.intervals or ([250] if args.quick else [50, 250, 1000])
    repeats, closed_for = (1, 0.5) if args.quick else (RUNS, CLOSED_FOR)
    results: dict[int, list[tuple[float, int]]] = {}
    with scratch_stack(SETTINGS, "bench-gate-") as stack:
        api = FrozenBetweenRequests(stack)
        try:
            for n in intervals:
                results[n] = [one_run(stack, api, n / 1000, closed_for) for _ in range(repeats)]
        finally:
            api.close()
    print(
        "queue gate reopen, api frozen (SIGSTOP) between requests, no background thread, "
        f"QUEUE_RECHECK_SECONDS={SETTINGS['QUEUE_RECHECK_SECONDS']}, {repeats} runs each:"
    )
    for n, runs in results.items():
        times = [t for t, _ in runs]
        print(
            f"  a submit every {n:>4} ms: first 202 after the queue is back "
            f"{', '.join(f'{t:.2f}' for t in times)} s (median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s); refused meanwhile: {[r for _, r in runs]}"
        )


if __name__ == "__main__":
    main()
