"""The reconciler moves lost creations on, or fails and refunds them past their deadline."""

from __future__ import annotations

import logging

from shared.domain.creation import Status
from shared.domain.errors import StoreUnavailable
from shared.domain.step_tasks import POLL_CHAIN, Step
from shared.services.reconcile import reconcile
from shared.services.videos import VideoOrder, submit_video
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import deliver_all

ORDER = VideoOrder("waves at dusk", {})


def start_lines(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "event", "") == "video.start_line"]


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


def test_each_sweep_logs_the_start_line_once(deps, clock, caplog):
    """What terraform/monitoring.tf charts and alerts on (video_oldest_wait): one
    `video.start_line` per sweep, with the videos waiting for their start and how long the
    oldest of them has waited; 0 when none waits, so the alert on it clears."""
    caplog.set_level(logging.INFO, logger="creator.events")
    reconcile(deps)
    assert start_lines(caplog) == [{"waiting": 0, "oldestWaitSeconds": 0, "perMinute": 10.0}]

    submit_video(deps, "ivy", ORDER)
    clock.advance(90)
    submit_video(deps, "jon", ORDER)
    clock.advance(30)
    caplog.clear()
    reconcile(deps)
    [line] = start_lines(caplog)
    assert (line["waiting"], line["oldestWaitSeconds"]) == (2, 120)

    deliver_all(deps, clock)  # both started and finished: nobody waits
    caplog.clear()
    reconcile(deps)
    [line] = start_lines(caplog)
    assert (line["waiting"], line["oldestWaitSeconds"]) == (0, 0)


def test_a_start_line_that_cannot_be_read_is_a_sweep_error_not_a_failed_sweep(deps, caplog):
    caplog.set_level(logging.INFO, logger="creator.events")
    deps.store.fail_next("oldest_waiting", StoreUnavailable("down"))

    report = reconcile(deps)

    assert report.errors == ["start_line"]
    assert start_lines(caplog) == []
    assert [r for r in caplog.records if getattr(r, "event", "") == "reconcile.swept"]
