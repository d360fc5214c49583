"""The reconciler moves lost creations on, or fails and refunds them past their deadline."""

from __future__ import annotations

from shared.domain.creation import Status
from shared.domain.step_tasks import POLL_CHAIN, Step
from shared.services.reconcile import reconcile
from shared.services.videos import VideoOrder, submit_video
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import deliver_all

ORDER = VideoOrder("waves at dusk", {})


def test_a_pending_creation_whose_task_was_lost_is_started_again(deps, clock):
    cid = submit_video(deps, "ivy", ORDER).creation.id
    deps.queue.take()  # the start task is lost
    clock.advance(deps.settings.stale_after_seconds + 1)

    report = reconcile(deps)

    assert report.requeued == [cid]
    [task] = deps.queue.tasks.values()
    assert (task.step, task.seq) == (Step.START, 1)
    deliver_all(deps, clock)
    assert deps.store.get_creation(cid).status is Status.DRAFT


def test_a_pending_creation_still_in_line_behind_the_pace_is_left_in_line(deps, clock):
    """Its start task waits in the paced start queue: a second one would only take one of
    the pace's dispatches. It is started once, by the task it has."""
    cid = submit_video(deps, "ivy", ORDER).creation.id
    clock.advance(deps.settings.stale_after_seconds + 1)

    report = reconcile(deps)

    assert report.requeued == [] and report.failed == []
    assert [t.task_id for t in deps.queue.tasks.values()] == [f"{cid}-start-0"]
    deliver_all(deps, clock)
    assert deps.store.get_creation(cid).status is Status.DRAFT
    assert len(deps.videos.started) == 1


def test_a_processing_creation_whose_poll_chain_broke_gets_a_new_chain(deps, clock):
    cid = submit_video(deps, "ivy", ORDER).creation.id
    from shared.services.video_steps import run_step

    run_step(deps, deps.queue.take()[0])
    deps.queue.take()  # poll 1 lost
    clock.advance(deps.settings.stale_after_seconds + 1)

    reconcile(deps)

    [task] = deps.queue.tasks.values()
    assert (task.step, task.seq) == (Step.POLL, POLL_CHAIN)
    deliver_all(deps, clock)
    assert deps.store.get_creation(cid).status is Status.DRAFT
    assert len(deps.videos.started) == 1


def test_past_the_deadline_a_stuck_creation_fails_and_is_refunded(deps, clock):
    cid = submit_video(deps, "jon", ORDER).creation.id
    deps.queue.take()
    clock.advance(deps.settings.video_deadline_seconds)

    report = reconcile(deps)

    assert report.failed == [cid]
    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.refunded
    assert deps.store.get_account("jon").tokens == 100
    assert_conserved(deps.store, "jon")


def test_fresh_and_finished_creations_are_left_alone(deps, clock):
    submit_video(deps, "kim", ORDER)
    deliver_all(deps, clock)
    submit_video(deps, "kim", ORDER)
    assert reconcile(deps).scanned == 0
