"""The local stack's queue retries as the real one: created with terraform/queue.tf's retry
policy (devtools/queue_policy.py), not Cloud Tasks' defaults."""

from __future__ import annotations

from devtools.queue_policy import retry_config, video_queue_retry_policy


def test_the_stack_s_queue_has_terraform_s_retry_config(stack) -> None:
    queue = stack.tasks.client().get_queue(name=stack.queue_path, timeout=10)
    assert queue.retry_config == retry_config(video_queue_retry_policy())
