"""Many users on the api, with locust as a library; run in a process of its own.

    python -m tests.chaos.load --host http://127.0.0.1:8080 --users 20 --seconds 30 \\
        --out stats.json

Locust patches the process for gevent on import, so nothing else (the stack, the Firestore
and Cloud Tasks clients, pytest) ever imports this module: it runs as a subprocess and
writes its figures as JSON.

Each user (its own dev identity) submits videos and images, with and without an
Idempotency-Key, replays them, polls its creations, cancels some, reads its tokens, and
reads other users' creations (which must be 404). An answer is a failure for locust when
it is a 5xx other than 503 or not one of the statuses the route may give; a request that
got no answer at all (the api was being killed) is counted as status 0.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

OTHER = "/api/creations/[someone else's]"
EXPECTED = {  # route name -> statuses it may answer (0: no answer, the api was down)
    "/api/generate/video": {0, 202, 402, 409, 422, 429, 503},
    "/api/generate/video [replay]": {0, 202, 402, 409, 422, 429, 503},
    "/api/generate/image": {0, 200, 402, 409, 422, 502, 503},
    "/api/creations/[id]": {0, 200, 503},
    "/api/creations/[id]/cancel": {0, 200, 409, 503},
    "/api/tokens": {0, 200, 409, 503},
    OTHER: {0, 404, 503},
}
MARKERS = ["", "", "", "", "", "", "[fail]", "[filtered]", "[transient]"]

status_counts: Counter = Counter()  # (route, status) -> n
findings: list[str] = []  # answers that break a promise
everyone: list[str] = []  # creation ids of all users, for the others' reads
_users = itertools.count(1)


@events.request.add_listener
def _count(name: str, response: Any = None, **_kw: Any) -> None:
    status_counts[(name, getattr(response, "status_code", 0) or 0)] += 1


class Creator(HttpUser):
    wait_time = between(0.3, 1.5)
    run_id = uuid.uuid4().hex[:8]

    def on_start(self) -> None:
        self.uid = f"load-{self.run_id}-{next(_users)}"
        self.headers = {"Authorization": f"Bearer dev:{self.uid}"}
        self.mine: list[str] = []
        self.sent: list[tuple[str, dict]] = []  # (Idempotency-Key, body) of video requests
        self.n = 0

    def _post(self, url: str, name: str, body: dict, key: str | None = None) -> Any:
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        with self.client.post(url, json=body, headers=headers, name=name, catch_response=True) as r:
            self._judge(r, name)
            return r

    def _get(self, url: str, name: str, headers: dict | None = None) -> Any:
        with self.client.get(
            url, headers=headers or self.headers, name=name, catch_response=True
        ) as r:
            self._judge(r, name)
            return r

    def _judge(self, r: Any, name: str) -> None:
        status = r.status_code or 0
        if status == 0:
            r.failure("no answer (the process was down)")
        elif status not in EXPECTED[name]:
            r.failure(f"unexpected status {status}")
            findings.append(f"{name}: {status} {r.text[:300]}")
        else:
            r.success()

    @task(4)
    def video(self) -> None:
        self.n += 1
        marker = random.choice(MARKERS)
        body = {"prompt": f"load {self.uid} {self.n} {marker}".strip(), "durationSeconds": 4}
        key = uuid.uuid4().hex if random.random() < 0.7 else None
        r = self._post("/api/generate/video", "/api/generate/video", body, key)
        self._remember(r)
        if key:
            self.sent.append((key, body))

    @task(2)
    def image(self) -> None:
        self.n += 1
        body = {"prompt": f"load {self.uid} image {self.n}"}
        key = uuid.uuid4().hex if random.random() < 0.5 else None
        self._remember(self._post("/api/generate/image", "/api/generate/image", body, key))

    @task(2)
    def replay(self) -> None:
        if not self.sent:
            return
        key, body = random.choice(self.sent[-10:])
        r = self._post("/api/generate/video", "/api/generate/video [replay]", body, key)
        if r.status_code == 202 and r.json().get("tokensCharged") not in (0, None):
            # a new creation is right only when the first attempt was refunded before it was
            # accepted (its task could not be queued); the audit checks the money either way
            self._remember(r)

    @task(8)
    def poll(self) -> None:
        if self.mine:
            cid = random.choice(self.mine[-10:])
            self._get(f"/api/creations/{cid}", "/api/creations/[id]")

    @task(1)
    def cancel(self) -> None:
        if self.mine:
            cid = self.mine[-1]
            self._post(f"/api/creations/{cid}/cancel", "/api/creations/[id]/cancel", {})

    @task(1)
    def tokens(self) -> None:
        self._get("/api/tokens?limit=5", "/api/tokens")

    @task(1)
    def someone_else(self) -> None:
        others = [c for c in everyone[-200:] if c not in self.mine]
        if others:
            cid = random.choice(others)
            r = self._get(f"/api/creations/{cid}", OTHER)
            if r.status_code == 200:
                findings.append(f"{self.uid} read {cid}, another user's creation")

    def _remember(self, r: Any) -> None:
        if r.status_code in (200, 202):
            cid = r.json().get("creationId")
            if cid:
                self.mine.append(cid)
                everyone.append(cid)


def run(host: str, users: int, seconds: float, spawn_rate: float) -> dict[str, Any]:
    import gevent

    env = Environment(user_classes=[Creator], events=events, host=host)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    endpoints = {}
    for (name, method), entry in sorted(env.stats.entries.items()):
        endpoints[f"{method} {name}"] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "rps": entry.num_requests / elapsed,
        }
    total = env.stats.total
    statuses: Counter = Counter()
    for (_name, status), n in status_counts.items():
        statuses[str(status)] += n
    return {
        "users": users,
        "seconds": elapsed,
        "requests": total.num_requests,
        "rps": total.num_requests / elapsed,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        "endpoints": endpoints,
        "statuses": dict(sorted(statuses.items())),
        "by_route": {f"{n} {s}": c for (n, s), c in sorted(status_counts.items())},
        "findings": findings,
        "creations_seen": len(everyone),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.load")
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    figures = run(args.host, args.users, args.seconds, args.spawn_rate)
    with open(args.out, "w") as f:
        json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
