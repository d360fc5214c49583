"""The audit's time per 10,000 creations on the Firestore emulator; prints it, asserts nothing.

Seeds a fresh emulator with `--creations` creations (default 10,000) of `--users` users, as
the store writes them (each with its debit entry; failed and cancelled ones with their
refund; drafts with their media key), written in batches for speed, then times
`python -m shared.audit audit` end to end (a process, as an operator runs it) and the read
and the checks in this process, page size by page size.

Run: `make bench` or `.venv/bin/python benchmarks/audit.py [--creations 10000]
[--users 1000]`; `--quick`: 200 creations of 20 users (make test's run, tests/benchmarks).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import arguments  # noqa: E402
from devtools.firestore_emulator import FirestoreEmulator  # noqa: E402
from devtools.processes import free_port  # noqa: E402
from shared.adapters import firestore_documents as docs  # noqa: E402
from shared.audit.checks import Auditor  # noqa: E402
from shared.audit.firestore_reader import read_store  # noqa: E402
from shared.domain.creation import Creation, Kind, Refund, Status, end_with_refund  # noqa: E402
from shared.domain.ledger import (  # noqa: E402
    Account,
    debit_entry,
    grant_entry,
    refund_entry,
)

PROJECT = "demo-creator"
BATCH = 450  # writes per batch (Firestore allows 500)
SNAPSHOT_AGE = 2.5  # seconds: the audit's snapshot read sees what was written before this


def seed(client, creations: int, users: int, rng: random.Random) -> int:
    """Write users, creations and ledger entries that pass the audit; returns documents."""
    now = datetime.now(UTC) - timedelta(hours=1)
    balances = {f"user{u:05d}": [1000, 0, 0] for u in range(users)}  # tokens, spent, inFlight
    writes: list[tuple[str, str, dict]] = []
    for uid in balances:
        grant = grant_entry(uid, 1000, "starting_grant", now)
        writes.append((docs.TRANSACTIONS, grant.id, docs.entry_to_doc(grant)))
    for i in range(creations):
        uid = f"user{rng.randrange(users):05d}"
        kind = Kind.VIDEO if rng.random() < 0.7 else Kind.IMAGE
        c = Creation(
            id=f"bench{i:07d}",
            user_id=uid,
            kind=kind,
            prompt=f"benchmark {i}",
            parameters={},
            cost=10 if kind is Kind.VIDEO else 1,
            created_at=now,
            updated_at=now,
            deadline_at=now + timedelta(hours=2),
        )
        writes.append((docs.TRANSACTIONS, f"debit-{c.id}", docs.entry_to_doc(debit_entry(c, now))))
        b = balances[uid]
        b[0] -= c.cost
        b[1] += c.cost
        roll = rng.random()
        if roll < 0.75:
            c = c.with_changes(now, status=Status.DRAFT, media_key=f"videos/{uid}/{c.id}.mp4")
        elif roll < 0.95 or kind is Kind.IMAGE:
            refund = Refund("generation_failed")
            if roll >= 0.9 and kind is Kind.VIDEO:
                refund = Refund.cancelled()
            ended = end_with_refund(c, now, refund)
            assert ended is not None
            c = ended
            writes.append(
                (docs.TRANSACTIONS, f"refund-{c.id}", docs.entry_to_doc(refund_entry(c, now)))
            )
            b[0] += c.cost
            b[1] -= c.cost
        elif kind is Kind.VIDEO:
            c = c.with_changes(now, status=Status.PROCESSING, operation_name=f"op/{i}")
            b[2] += 1
        writes.append((docs.CREATIONS, c.id, docs.creation_to_doc(c)))
    for uid, (tokens, spent, in_flight) in balances.items():
        doc = docs.account_to_doc(Account(uid, tokens, spent), now, created=True)
        doc["inFlight"] = in_flight
        writes.append((docs.USERS, uid, doc))
    for start in range(0, len(writes), BATCH):
        batch = client.batch()
        for collection, doc_id, doc in writes[start : start + BATCH]:
            batch.set(client.collection(collection).document(doc_id), doc)
        batch.commit(timeout=60)
    return len(writes)


def main() -> int:
    args = arguments.parse(
        __doc__ or "",
        {"creations": 200, "users": 20},
        "200 creations (make test)",
        creations=(int, 10_000),
        users=(int, 1_000),
    )
    with FirestoreEmulator(port=free_port(), project=PROJECT) as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
        from google.cloud import firestore

        client = firestore.Client(project=PROJECT)
        started = time.perf_counter()
        written = seed(client, args.creations, args.users, random.Random(1))
        seeded = time.monotonic()
        print(
            f"seeded {args.creations} creations of {args.users} users ({written} documents)"
            f" in {time.perf_counter() - started:.1f} s"
        )
        per = 10_000 / args.creations
        for page_size in (300, 1000, 5000):
            auditor = Auditor()
            figures = read_store(client, auditor, page_size=page_size)
            checked = time.perf_counter()
            report = auditor.finish(datetime.now(UTC))
            check_s = time.perf_counter() - checked
            total = figures.seconds + check_s
            print(
                f"in process, pages of {page_size}: read {sum(figures.documents.values())}"
                f" documents in {figures.pages} pages {figures.seconds:.2f} s, checks"
                f" {check_s:.2f} s: {total * per:.2f} s per 10,000 creations,"
                f" violations {len(report.violations)}"
            )
        # The snapshot read is at a whole second, a second ago: documents younger than that
        # are not in it (a quick run gets here within a second or two of the seeding).
        time.sleep(max(0.0, seeded + SNAPSHOT_AGE - time.monotonic()))
        command = [sys.executable, "-m", "shared.audit", "audit", "--project", PROJECT]
        for extra in ([], ["--live"]):
            started = time.perf_counter()
            done = subprocess.run([*command, *extra], capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - started
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
            print(
                f"python -m shared.audit audit {' '.join(extra) or '(snapshot read)'}: exit"
                f" {done.returncode}, {wall:.2f} s wall ({wall * per:.2f} s per 10,000"
                f" creations, process start included); {last}"
            )
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
