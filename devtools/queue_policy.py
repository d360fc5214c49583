"""The video queue's retry policy, read from terraform/queue.tf: the one source for what
Cloud Tasks does with a step that fails. Terraform configures the real queue with it;
`make dev` creates the local server's queue with it (devtools/stack.py); the simulated
Cloud Tasks of the unit and chaos tests (tests/fakes/queue.py) retry by it.

The formula (doublings, then linear steps, capped; limits on attempts and age) is the local
server's (devtools/cloud_tasks_server/retry_policy.py), so the tests and `make dev` retry
exactly as the local server does, and the local server as Cloud Tasks documents.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.retry_policy import RetryPolicy

QUEUE_TF = Path(__file__).resolve().parent.parent / "terraform" / "queue.tf"
# The locals of queue.tf that the queue's retry_config reads, and what each sets.
LOCALS = {
    "queue_min_backoff_seconds": "min_backoff",
    "queue_max_backoff_seconds": "max_backoff",
    "queue_max_doublings": "max_doublings",
    "queue_max_retry_seconds": "max_retry_duration",
}


def _video_queue(config: dict[str, Any]) -> dict[str, Any]:
    for resource in config.get("resource", []):
        queue = resource.get('"google_cloud_tasks_queue"') or resource.get(
            "google_cloud_tasks_queue"
        )
        if queue:
            found = queue.get('"video"') or queue.get("video")
            if found:
                return dict(found)
    raise ValueError(f"{QUEUE_TF}: no google_cloud_tasks_queue.video")


@cache
def video_queue_retry_policy(path: Path = QUEUE_TF) -> RetryPolicy:
    """The retry policy of terraform/queue.tf's video queue."""
    with path.open() as f:
        config = hcl2.load(f)
    values: dict[str, float] = {}
    for block in config.get("locals", []):
        for name, field in LOCALS.items():
            if name in block:
                values[field] = float(block[name])
    missing = sorted(set(LOCALS.values()) - set(values))
    if missing:
        raise ValueError(f"{path}: the locals for {missing} are missing")
    [retry] = _video_queue(config)["retry_config"]
    for name, field in LOCALS.items():
        if name not in str(retry.get(field, "")):
            raise ValueError(f"{path}: retry_config.{field} does not read local.{name}")
    return RetryPolicy(
        max_attempts=int(retry["max_attempts"]),
        max_retry_duration=values["max_retry_duration"],
        min_backoff=values["min_backoff"],
        max_backoff=values["max_backoff"],
        max_doublings=int(values["max_doublings"]),
    )


def retry_config(policy: RetryPolicy) -> tasks_v2.RetryConfig:
    """The policy as a Cloud Tasks RetryConfig (for CreateQueue / UpdateQueue)."""
    return tasks_v2.RetryConfig(
        max_attempts=policy.max_attempts,
        max_retry_duration=timedelta(seconds=policy.max_retry_duration),
        min_backoff=timedelta(seconds=policy.min_backoff),
        max_backoff=timedelta(seconds=policy.max_backoff),
        max_doublings=policy.max_doublings,
    )
