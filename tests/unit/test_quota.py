"""Veo's quota (issue 21): a 429 at the start is waiting, not failure.

A start refused with 429 RESOURCE_EXHAUSTED gives its claim back and is retried on the
queue's backoff; nothing is refunded while the video is within MAX_QUEUE_WAIT_SECONDS of its
submit; past it, the video fails with `capacity` and its tokens come back. The generation's
own deadline counts from its start.
"""

from __future__ import annotations

from datetime import timedelta

from shared.domain.creation import Status
from shared.domain.errors import GenerationError
from shared.domain.failures import user_message
from shared.ports import OperationStatus
from shared.services.videos import VideoOrder, submit_video
from tests.unit.simulation import deliver_all

ORDER = VideoOrder(prompt="a lighthouse at dawn", parameters={})


def quota_error() -> GenerationError:
    return GenerationError(
        "generator_rate_limited", "429 RESOURCE_EXHAUSTED", transient=True, not_started=True
    )


class QuotaFor:
    """The fake generator refuses every start with 429 until `until` (the clock's time)."""

    def __init__(self, deps, clock, seconds: float) -> None:
        self.until = clock() + timedelta(seconds=seconds)
        self.refused = 0
        inner = deps.videos.start

        def start(spec, route=None):
            if clock() < self.until:
                self.refused += 1
                raise quota_error()
            return inner(spec, route)

        deps.videos.start = start


def test_a_start_refused_for_quota_waits_and_then_makes_the_video(deps, clock):
    quota = QuotaFor(deps, clock, seconds=600)  # ten minutes of 429s
    cid = submit_video(deps, "ann", ORDER).creation.id

    outcomes = deliver_all(deps, clock, max_steps=500)

    creation = deps.store.get_creation(cid)
    assert creation.status is Status.DRAFT and not creation.refunded
    assert quota.refused > 1 and "dropped" not in outcomes
    assert len(deps.videos.started) == 1  # one paid generation
    assert deps.store.get_account("ann").tokens == 100 - deps.policy.video_cost


def test_a_video_refused_past_its_wait_fails_capacity_and_is_refunded(deps, clock):
    QuotaFor(deps, clock, seconds=10 * 3600)  # never under quota
    cid = submit_video(deps, "ann", ORDER).creation.id

    deliver_all(deps, clock, max_steps=500)

    creation = deps.store.get_creation(cid)
    assert (creation.status, creation.error_code, creation.refunded) == (
        Status.FAILED,
        "capacity",
        True,
    )
    assert creation.error_message == user_message("capacity") != user_message("other")
    waited = creation.updated_at - creation.created_at
    assert deps.policy.max_queue_wait <= waited < deps.policy.max_queue_wait + timedelta(minutes=2)
    assert deps.store.get_account("ann").tokens == 100
    assert deps.videos.started == []


def test_the_generation_deadline_counts_from_the_start_not_the_submit(deps, clock):
    wait = 1200  # twenty minutes of 429s, then a generation that takes 25 minutes
    QuotaFor(deps, clock, seconds=wait)
    deps.videos.script = [OperationStatus(done=False, progress=10)] * 400 + [
        OperationStatus(done=True, media=deps.videos.script[0].media)
    ]
    assert deps.policy.video_deadline.total_seconds() > 1500
    cid = submit_video(deps, "ann", ORDER).creation.id

    deliver_all(deps, clock, max_steps=2000)

    creation = deps.store.get_creation(cid)
    assert creation.status is Status.DRAFT, creation.error_code
    took = (creation.updated_at - creation.created_at).total_seconds()
    assert took > deps.policy.video_deadline.total_seconds()  # longer than from the submit


def test_a_started_video_still_expires_at_its_deadline_from_the_start(deps, clock):
    QuotaFor(deps, clock, seconds=300)
    deps.videos.script = [OperationStatus(done=False, progress=10)]  # never done
    cid = submit_video(deps, "ann", ORDER).creation.id

    deliver_all(deps, clock, max_steps=3000)

    creation = deps.store.get_creation(cid)
    assert (creation.status, creation.error_code) == (Status.FAILED, "deadline_exceeded")
    assert creation.refunded and deps.store.get_account("ann").tokens == 100
    took = creation.updated_at - creation.created_at
    assert took >= deps.policy.video_deadline + timedelta(seconds=300)


def test_start_steps_go_to_the_paced_start_queue_and_polls_to_the_video_queue():
    from unittest import mock

    from shared.adapters.cloud_tasks_queue import CloudTasksQueue
    from shared.domain.step_tasks import poll_task, start_task

    client = mock.Mock()
    queue = CloudTasksQueue(
        lambda: client,
        queue_path="projects/p/locations/l/queues/video",
        start_queue_path="projects/p/locations/l/queues/video-start",
        target_url="https://worker.example/tasks/video",
        service_account=None,
        audience=None,
        dispatch_deadline_seconds=60,
        budget_seconds=0.5,
    )
    queue.enqueue(start_task("abc"))
    queue.enqueue(poll_task("abc", 1, 2, 4))
    queue.delete(start_task("abc"))

    first, second = (c.kwargs["request"] for c in client.create_task.call_args_list)
    assert first.parent.endswith("/queues/video-start")
    assert first.task.name == "projects/p/locations/l/queues/video-start/tasks/abc-start-0"
    assert second.parent.endswith("/queues/video")
    assert client.delete_task.call_args.kwargs["name"].endswith("/video-start/tasks/abc-start-0")
