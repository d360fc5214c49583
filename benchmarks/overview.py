"""The operator's overview with history: 10,000 creations of the last day in the Firestore
emulator, then GET /api/admin/overview?fresh=1 (the cache skipped) timed; prints p50 / p99,
asserts nothing.

Run: `make bench` or `.venv/bin/python benchmarks/overview.py [--creations 10000]
[--runs 20]`; `--quick`: 200 creations, 2 reads of each kind (make test's run,
tests/benchmarks).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import arguments  # noqa: E402
from devtools.firestore_emulator import FirestoreEmulator  # noqa: E402
from shared.adapters import firestore_documents as docs  # noqa: E402
from shared.domain.creation import Creation, Kind, Status  # noqa: E402

OUTCOMES = [
    (Status.DRAFT, None, None, 70),
    (Status.FAILED, "generation_failed", None, 8),
    (Status.FAILED, "enqueue_failed", "queue_unavailable", 5),
    (Status.FAILED, "content_filtered", None, 5),
    (Status.CANCELLED, "cancelled", None, 4),
    (Status.PROCESSING, None, None, 5),
    (Status.PENDING, None, None, 3),
]


def seed(client, count: int, now: datetime) -> None:
    rng = random.Random(7)
    weights = [o[3] for o in OUTCOMES]
    batch, pending = client.batch(), 0
    for n in range(count):
        status, code, queue_code, _ = rng.choices(OUTCOMES, weights)[0]
        created = now - timedelta(seconds=rng.uniform(0, 86_000))
        creation = Creation(
            id=uuid.uuid4().hex,
            user_id=f"user-{n % 500}",
            kind=Kind.VIDEO if rng.random() < 0.7 else Kind.IMAGE,
            prompt="a lighthouse in a storm, " + "cinematic " * 20,
            parameters={"aspectRatio": "16:9", "durationSeconds": 8},
            cost=10,
            created_at=created,
            updated_at=created + timedelta(seconds=rng.uniform(5, 300)),
            deadline_at=created + timedelta(minutes=30),
            status=status,
            error_code=code,
            queue_error_code=queue_code,
            refunded=status in (Status.FAILED, Status.CANCELLED),
            media_key=f"videos/u/{n}.mp4" if status is Status.DRAFT else None,
        )
        batch.set(
            client.collection(docs.CREATIONS).document(creation.id), docs.creation_to_doc(creation)
        )
        pending += 1
        if pending == 400:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()


def main() -> None:
    args = arguments.parse(
        (__doc__ or "").splitlines()[0],
        {"creations": 200, "runs": 2},
        "200 creations, 2 reads (make test)",
        creations=(int, 10_000),
        runs=(int, 20),
    )

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from functions.api import create_app
    from shared.bootstrap import Container
    from shared.config import settings_from_env
    from shared.services.queue_health import QueueHealth
    from tests.fakes import FakeQueue

    with FirestoreEmulator(project="demo-creator") as emulator:
        env = {"APP_ENV": "local", "FIRESTORE_EMULATOR_HOST": emulator.host}
        import os

        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        client = firestore.Client(project="demo-creator", credentials=AnonymousCredentials())
        now = datetime.now(UTC)
        started = time.perf_counter()
        seed(client, args.creations, now)
        print(f"seeded {args.creations} creations in {time.perf_counter() - started:.1f} s")
        settings = settings_from_env(env)
        queue = FakeQueue(settings.queue_path)
        deps = Container(settings, queue=queue, queue_health=QueueHealth(queue, ttl_seconds=5))
        http = create_app(deps).test_client()
        admin = {"Authorization": "Bearer dev:admin"}
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            response = http.get("/api/admin/overview?fresh=1", headers=admin)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.get_json()
        body = response.get_json()
        cached = []
        for _ in range(args.runs):
            t = time.perf_counter()
            http.get("/api/admin/overview", headers=admin)
            cached.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(
        f"overview over {body['windows']['day']['submitted']} creations of the day "
        f"(truncated: {body['truncated']}): p50 {statistics.median(times):.0f} ms, "
        f"p99 {p99:.0f} ms over {args.runs} fresh reads; "
        f"cached: p50 {statistics.median(cached):.1f} ms"
    )


if __name__ == "__main__":
    main()
