"""The worker's state machine, driven step by step like Cloud Tasks would."""

from __future__ import annotations

from shared.domain.creation import Status
from shared.domain.errors import GenerationError, QueueError
from shared.domain.step_tasks import Step, StepTask
from shared.ports import OperationStatus
from shared.services.video_steps import run_step
from shared.services.videos import VideoOrder, submit_video
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import deliver_all

ORDER = VideoOrder("a lighthouse in a storm", {"durationSeconds": 8})


def submit(deps, uid="ann"):
    return submit_video(deps, uid, ORDER).creation.id


def test_a_video_goes_from_pending_to_draft_with_its_media(deps, clock):
    deps.videos.script = [OperationStatus(done=False, progress=30)] * 3 + deps.videos.script
    cid = submit(deps)

    deliver_all(deps, clock)

    creation = deps.store.get_creation(cid)
    assert creation.status is Status.DRAFT and creation.progress == 100
    assert creation.media_key == f"videos/ann/{cid}.mp4"
    assert f"videos/ann/{cid}.mp4" in deps.media.objects
    assert len(deps.videos.started) == 1
    assert deps.store.get_account("ann").tokens == 90
    assert_conserved(deps.store, "ann")


def test_duplicate_start_deliveries_start_one_generation(deps, clock):
    cid = submit(deps)
    start = deps.queue.take()[0]

    results = [run_step(deps, start) for _ in range(3)]

    assert [r.status for r in results] == [200, 200, 200]
    assert len(deps.videos.started) == 1
    assert deps.store.get_creation(cid).operation_name == "operations/1"
    assert len(deps.queue.tasks) == 1  # poll 1, scheduled once however often start ran


def test_duplicate_poll_deliveries_complete_once(deps, clock):
    cid = submit(deps)
    run_step(deps, deps.queue.take()[0])
    poll = deps.queue.take()[0]

    assert run_step(deps, poll).outcome == "draft"
    assert run_step(deps, poll).outcome == "already_draft"
    assert deps.store.get_creation(cid).status is Status.DRAFT


def test_generation_error_fails_and_refunds_once(deps, clock):
    deps.videos.script = [
        OperationStatus(done=True, error_code="content_filtered", error_message="filtered")
    ]
    cid = submit(deps)
    deliver_all(deps, clock)

    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.refunded
    assert creation.error_code == "content_filtered"
    assert deps.store.get_account("ann").tokens == 100
    assert_conserved(deps.store, "ann")


def test_permanent_start_error_fails_and_refunds(deps, clock):
    deps.videos.start_error = GenerationError("invalid_argument", "bad prompt", transient=False)
    cid = submit(deps)
    assert deliver_all(deps, clock) == ["failed:invalid_argument"]
    assert deps.store.get_creation(cid).refunded


def test_a_start_refused_before_it_ran_releases_the_claim_and_retries(deps, clock):
    deps.videos.start_error = GenerationError("rate_limited", transient=True, not_started=True)
    cid = submit(deps)
    start = deps.queue.take()[0]

    assert run_step(deps, start).status == 503
    assert deps.store.get_creation(cid).status is Status.PENDING
    deps.videos.start_error = None
    assert run_step(deps, start).status == 200
    assert len(deps.videos.started) == 1


def test_a_start_that_may_have_run_is_never_started_again_and_ends_refunded(deps, clock):
    """A timeout or a 5xx on start: Veo may have created the operation. Starting again could
    pay for a second one, so the claim stays and the start timeout fails and refunds."""
    deps.videos.start_error = GenerationError("generator_unavailable", "timeout", transient=True)
    cid = submit(deps)
    start = deps.queue.take()[0]

    assert run_step(deps, start).status == 503
    assert deps.store.get_creation(cid).status is Status.PROCESSING
    deps.videos.start_error = None
    assert run_step(deps, start).status == 503  # still within the start timeout
    clock.advance(deps.settings.start_timeout_seconds)
    assert run_step(deps, start).outcome == "failed:start_interrupted"
    assert deps.videos.started == []
    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.refunded
    assert deps.store.get_account("ann").tokens == 100


def test_transient_poll_error_retries_then_completes(deps, clock):
    deps.videos.script = [GenerationError("server_error", transient=True)] + deps.videos.script
    cid = submit(deps)
    outcomes = deliver_all(deps, clock)

    assert "generator:server_error" in outcomes
    assert deps.store.get_creation(cid).status is Status.DRAFT


def test_storage_failure_retries_the_poll_without_a_second_generation(deps, clock):
    cid = submit(deps)
    run_step(deps, deps.queue.take()[0])
    poll = deps.queue.take()[0]
    deps.media.failing = True
    assert run_step(deps, poll).status == 503
    deps.media.failing = False
    assert run_step(deps, poll).outcome == "draft"
    assert len(deps.videos.started) == 1
    assert deps.store.get_creation(cid).status is Status.DRAFT


def test_queue_failure_when_scheduling_a_poll_is_retried(deps, clock):
    cid = submit(deps)
    start = deps.queue.take()[0]
    deps.queue.failure = QueueError("queue_unavailable")
    assert run_step(deps, start).status == 503
    deps.queue.failure = None
    assert run_step(deps, start).status == 200  # heals: poll scheduled, no second generation
    assert len(deps.videos.started) == 1
    assert [t.step for t in deps.queue.tasks.values()] == [Step.POLL]
    assert deps.store.get_creation(cid).status is Status.PROCESSING


def test_creation_past_its_deadline_fails_and_refunds(deps, clock):
    deps.videos.script = [OperationStatus(done=False, progress=10)]
    cid = submit(deps)
    deliver_all(deps, clock, max_steps=1000)

    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.error_code == "deadline_exceeded"
    assert deps.store.get_account("ann").tokens == 100
    assert_conserved(deps.store, "ann")


def test_a_claim_left_by_a_dead_worker_fails_after_the_start_timeout(deps, clock):
    cid = submit(deps)
    start = deps.queue.take()[0]
    from shared.domain import creation as transitions

    deps.store.update_creation(cid, lambda c: transitions.claim(c, "dead-worker", clock()))

    assert run_step(deps, start).status == 503  # maybe still starting: wait
    clock.advance(deps.settings.start_timeout_seconds)
    assert run_step(deps, start).outcome == "failed:start_interrupted"
    assert deps.videos.started == []  # never a second operation
    assert deps.store.get_creation(cid).refunded


def test_steps_for_unknown_or_terminal_creations_do_nothing(deps):
    assert run_step(deps, StepTask("missing", Step.START)).outcome == "unknown_creation"


def test_a_worker_whose_operation_could_not_be_recorded_stops(deps, clock, caplog):
    """The creation was failed and refunded while its generation was being started (the
    start timeout ran out): the worker records nothing, schedules no poll, and logs the
    operation it leaves behind."""
    from shared.domain.creation import Refund

    cid = submit(deps)
    start = deps.queue.take()[0]
    original = deps.videos.start

    def start_while_the_reconciler_refunds(spec, route=None):
        deps.store.refund(cid, clock(), Refund("start_interrupted"))
        return original(spec, route)

    deps.videos.start = start_while_the_reconciler_refunds
    result = run_step(deps, start)

    assert result.status == 200 and result.outcome == "already_failed"
    assert deps.queue.take() == []  # no poll chain for an ended creation
    creation = deps.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.operation_name is None
    assert "video.operation_orphaned" in caplog.text
    assert_conserved(deps.store, "ann")
