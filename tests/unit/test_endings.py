"""Each end of a creation is logged for what it is (failed, expired, cancelled), once, by the
transaction that ended it; `<kind>.refunded` follows each, for the tokens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.domain.creation import Status
from shared.domain.errors import GenerationError, QueueError, StoreUnavailable
from shared.ports import OperationStatus
from shared.services.cancel import cancel_creation
from shared.services.images import ImageFailed, ImageOrder, generate_image
from shared.services.queue_health import QueueHealth
from shared.services.reconcile import reconcile
from shared.services.video_steps import run_step
from shared.services.videos import EnqueueFailed, VideoOrder, submit_video
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import deliver_all

ORDER = VideoOrder("waves at dusk", {})
ENDINGS = {"failed", "expired", "cancelled"}


@pytest.fixture
def logged(caplog):
    """(event, fields, source file) of each event line, in order."""
    caplog.set_level(logging.INFO, logger="creator.events")

    def lines(*kinds: str) -> list[tuple[str, dict, str]]:
        out = []
        for r in caplog.records:
            event = getattr(r, "event", "")
            if event.split(".")[-1] in kinds:
                out.append((event, r.fields, Path(r.pathname).name))
        return out

    return lines


def test_a_cancel_is_logged_cancelled_and_refunded_never_failed(deps, logged):
    cid = submit_video(deps, "ann", ORDER).creation.id
    cancel_creation(deps, "ann", cid)
    cancel_creation(deps, "ann", cid)  # idempotent: nothing more logged

    [(cancelled, fields, source), (refunded, money, _)] = logged(*ENDINGS, "refunded")
    assert (cancelled, fields["errorCode"], source) == ("video.cancelled", "cancelled", "cancel.py")
    assert (refunded, money["ending"], money["amount"]) == ("video.refunded", "cancelled", 10)
    assert deps.store.get_creation(cid).status is Status.CANCELLED
    assert_conserved(deps.store, "ann")


def test_a_generation_failure_is_logged_failed(deps, clock, logged):
    deps.videos.script = [OperationStatus(done=True, error_code="content_filtered")]
    cid = submit_video(deps, "ann", ORDER).creation.id
    deliver_all(deps, clock)

    [(failed, fields, source), (refunded, money, _)] = logged(*ENDINGS, "refunded")
    assert (failed, fields["errorCode"], source) == ("video.failed", "content_filtered",
                                                     "video_steps.py")  # fmt: skip
    assert (refunded, money["reason"], money["ending"]) == (
        "video.refunded",
        "content_filtered",
        "failed",
    )
    assert deps.store.get_creation(cid).refunded


def test_a_video_past_its_deadline_is_logged_expired(deps, clock, logged):
    deps.videos.script = [OperationStatus(done=False, progress=10)]  # never done
    cid = submit_video(deps, "ann", ORDER).creation.id
    deliver_all(deps, clock, max_steps=2000)

    [(expired, fields, _)] = logged(*ENDINGS)
    assert (expired, fields["errorCode"]) == ("video.expired", "deadline_exceeded")
    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.refunded  # the API's state
    assert deps.store.get_account("ann").tokens == 100


def test_a_lost_video_the_reconciler_ends_past_its_wait_is_logged_failed_capacity(
    deps, clock, logged
):
    cid = submit_video(deps, "ann", ORDER).creation.id
    deps.queue.take()  # its task is lost: it never starts
    clock.advance(deps.settings.max_queue_wait_seconds)

    assert reconcile(deps).failed == [cid]
    [(failed, fields, source)] = logged(*ENDINGS)
    assert (failed, fields["errorCode"], source) == ("video.failed", "capacity", "video_steps.py")
    assert deps.store.get_account("ann").tokens == 100


def test_a_started_video_the_reconciler_finds_past_its_deadline_is_logged_expired(
    deps, clock, logged
):
    deps.videos.script = [OperationStatus(done=False, progress=10)]  # never done
    cid = submit_video(deps, "ann", ORDER).creation.id
    [start] = deps.queue.take()
    run_step(deps, start)
    deps.queue.take()  # its polls are lost
    clock.advance(deps.settings.video_deadline_seconds)

    assert reconcile(deps).failed == [cid]
    [(expired, _, source)] = logged(*ENDINGS)
    assert (expired, source) == ("video.expired", "video_steps.py")  # end_and_refund


def test_an_enqueue_failure_is_logged_failed_with_the_queue_s_code(deps, logged):
    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    assert deps.queue_health.check().ok  # the gate saw it running a moment ago
    deps.queue.failure = QueueError("queue_paused", "paused")
    with pytest.raises(EnqueueFailed):
        submit_video(deps, "ann", ORDER)

    [(failed, fields, _), (refunded, _, _)] = logged(*ENDINGS, "refunded")
    assert (failed, fields["errorCode"], fields["queueErrorCode"]) == (
        "video.failed",
        "enqueue_failed",
        "queue_paused",
    )
    assert refunded == "video.refunded"


def test_an_image_failure_is_logged_once_even_when_its_refund_waits_for_the_reconciler(
    deps, clock, logged
):
    deps.images.failure = GenerationError("generation_failed", "provider words", transient=False)
    deps.store.fail_next("refund", StoreUnavailable("down"))
    with pytest.raises(ImageFailed) as failed:
        generate_image(deps, "ann", ImageOrder("a cat"))
    assert logged(*ENDINGS) == []  # not ended yet: nothing said it ended

    clock.advance(deps.settings.stale_after_seconds + 1)
    reconcile(deps)
    reconcile(deps)

    [(event, fields, _)] = logged(*ENDINGS)
    assert (event, fields["errorCode"]) == ("image.failed", "image_interrupted")
    assert deps.store.get_creation(failed.value.creation.id).refunded
    assert_conserved(deps.store, "ann")


def test_an_image_failure_refunded_at_once_is_logged_failed_with_its_detail(deps, logged):
    deps.images.failure = GenerationError("content_filtered", "provider words", transient=False)
    with pytest.raises(ImageFailed):
        generate_image(deps, "ann", ImageOrder("a cat"))

    [(event, fields, source), (refunded, _, _)] = logged(*ENDINGS, "refunded")
    assert (event, fields["errorCode"], fields["transient"]) == (
        "image.failed",
        "content_filtered",
        False,
    )
    assert (fields["detail"], source, refunded) == ("provider words", "images.py", "image.refunded")
