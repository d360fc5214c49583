"""One retry policy, read from terraform/queue.tf: the simulated Cloud Tasks of the unit and
chaos tests retries by it (and the local stack's queue is created with it:
tests/e2e/test_queue_retry_config.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from devtools.queue_policy import QUEUE_TF, video_queue_retry_policy
from shared.domain.step_tasks import Step, StepTask
from tests.fakes.queue import NAME_KEPT, FakeQueue


def test_the_policy_is_the_one_terraform_sets() -> None:
    policy = video_queue_retry_policy()
    text = QUEUE_TF.read_text()
    assert policy.min_backoff == float(re.search(r"queue_min_backoff_seconds\s*=\s*(\d+)", text)[1])
    assert policy.max_backoff == float(re.search(r"queue_max_backoff_seconds\s*=\s*(\d+)", text)[1])
    assert policy.max_retry_duration == 3600 and policy.max_attempts == -1
    assert [policy.retry_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_a_change_in_terraform_changes_the_simulated_queue(tmp_path: Path) -> None:
    changed = tmp_path / "queue.tf"
    shutil.copy(QUEUE_TF, changed)
    changed.write_text(
        re.sub(
            r"queue_min_backoff_seconds\s*=\s*\d+",
            "queue_min_backoff_seconds = 7",
            changed.read_text(),
        )
    )
    policy = video_queue_retry_policy(changed)
    assert policy.retry_delay(1) == 7
    queue = FakeQueue(policy=policy)
    assert queue.next_attempt(1, first_attempt=0.0) == 7


def test_a_retry_config_that_does_not_read_the_locals_is_refused(tmp_path: Path) -> None:
    changed = tmp_path / "queue.tf"
    changed.write_text(
        QUEUE_TF.read_text().replace('"${local.queue_min_backoff_seconds}s"', '"5s"')
    )
    with pytest.raises(ValueError, match="min_backoff"):
        video_queue_retry_policy(changed)


def test_the_simulated_queue_gives_a_task_up_past_its_retry_window() -> None:
    now = [0.0]
    queue = FakeQueue(now=lambda: now[0])
    assert queue.policy == video_queue_retry_policy()
    now[0] = 3599.0
    assert queue.next_attempt(40, first_attempt=0.0) == 3599.0 + 60
    now[0] = 3600.0
    assert queue.next_attempt(41, first_attempt=0.0) is None


def test_a_name_stays_taken_after_its_task_ran_then_frees() -> None:
    now = [0.0]
    queue = FakeQueue(now=lambda: now[0])
    step = StepTask("c1", Step.START)
    queue.enqueue(step)
    assert queue.take() == [step]
    queue.enqueue(step)  # ALREADY_EXISTS: a success, and nothing new
    assert queue.tasks == {}
    now[0] = NAME_KEPT + 1
    queue.enqueue(step)
    assert list(queue.tasks) == [step.task_id]
