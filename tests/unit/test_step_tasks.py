"""Task names and their bounds: each poll chain keeps to its own names, and the configuration
refuses a deadline that would make a chain run into the next one's."""

from __future__ import annotations

import dataclasses

import pytest

from shared.bootstrap import Container
from shared.config import ConfigError, settings_from_env
from shared.domain.creation import Status
from shared.domain.step_tasks import (
    MAX_POLLS_PER_CHAIN,
    MAX_REQUEUES,
    POLL_CHAIN,
    SEQ_LIMIT,
    Step,
    StepTask,
    largest_deadline_seconds,
    poll_chain_span_seconds,
    start_task,
)
from shared.ports import OperationStatus
from shared.services.reconcile import reconcile
from shared.services.video_steps import run_step
from shared.services.videos import VideoOrder, submit_video
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import Clock

ORDER = VideoOrder("waves at dusk", {})
LOCAL = {"APP_ENV": "local", "QUEUE_HEALTH_TTL_SECONDS": "0"}


class NameKeepingQueue:
    """Wraps the fake queue with Cloud Tasks' rule for names: a name stays taken after its
    task ran, so a task meant to be new but named like an earlier one is dropped, and
    counted here."""

    def __init__(self, queue) -> None:  # type: ignore[no-untyped-def]
        self._queue = queue
        self.names: set[str] = set()
        self.dropped: list[str] = []

    def enqueue(self, task: StepTask) -> None:
        if task.task_id in self.names:
            self.dropped.append(task.task_id)
        self.names.add(task.task_id)
        self._queue.enqueue(task)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._queue, name)


@pytest.fixture
def keeping(deps: Container) -> Container:
    deps.queue = NameKeepingQueue(deps.queue)  # type: ignore[misc]
    deps.videos.script = [OperationStatus(done=False, progress=50)]  # never done
    return deps


def deliver_through_payloads(deps: Container, clock: Clock) -> list[StepTask]:
    """Play Cloud Tasks: each queued task waits out its delay, then reaches the worker as
    its JSON body and is parsed back, as functions/worker.py does. Returns what was run."""
    ran: list[StepTask] = []
    for _ in range(2 * POLL_CHAIN):
        tasks = deps.queue.take()
        if not tasks:
            return ran
        (task,) = tasks
        clock.advance(max(task.delay_seconds, 0.001))
        parsed = StepTask.from_payload(task.payload())
        assert parsed.task_id == task.task_id
        assert not run_step(deps, parsed).retry
        ran.append(parsed)
    raise AssertionError("the poll chain did not end")


def with_deadline(deps: Container, seconds: int) -> None:
    """The deadline set as the configuration would hold it, without its check."""
    deps.settings = dataclasses.replace(deps.settings, video_deadline_seconds=seconds)


def test_the_largest_allowed_deadline_is_accepted_and_one_more_second_is_refused():
    largest = largest_deadline_seconds(2, 4)
    assert largest == 2 + 3 + 4 * (MAX_POLLS_PER_CHAIN - 2)  # the ramp, then 4 s each
    env = {**LOCAL, "POLL_INITIAL_SECONDS": "2", "POLL_MAX_SECONDS": "4"}
    assert settings_from_env({**env, "VIDEO_DEADLINE_SECONDS": str(largest)})
    with pytest.raises(ConfigError) as refused:
        settings_from_env({**env, "VIDEO_DEADLINE_SECONDS": str(largest + 1)})
    (problem,) = refused.value.problems
    assert "VIDEO_DEADLINE_SECONDS" in problem and "POLL_MAX_SECONDS" in problem
    assert f"at most {largest}" in problem


def test_the_ratio_is_about_the_polls_a_chain_has_names_for():
    # Polls at the maximum from the first: the ratio itself is the bound.
    assert largest_deadline_seconds(4, 4) == 4 * MAX_POLLS_PER_CHAIN
    env = {**LOCAL, "POLL_INITIAL_SECONDS": "6", "POLL_MAX_SECONDS": "6"}
    assert settings_from_env({**env, "VIDEO_DEADLINE_SECONDS": str(6 * 999)})
    with pytest.raises(ConfigError, match="VIDEO_DEADLINE_SECONDS / POLL_MAX_SECONDS"):
        settings_from_env({**env, "VIDEO_DEADLINE_SECONDS": str(6 * 999 + 1)})
    # A short ramp from a small first delay lets a chain make more polls in the same time.
    assert poll_chain_span_seconds(0.1, 6) < 6 * MAX_POLLS_PER_CHAIN


def test_at_the_largest_deadline_the_first_chain_ends_within_its_names(keeping, clock):
    with_deadline(keeping, largest_deadline_seconds(2, 4))
    cid = submit_video(keeping, "ivy", ORDER).creation.id

    ran = deliver_through_payloads(keeping, clock)

    polls = [t.seq for t in ran if t.step is Step.POLL]
    assert polls == list(range(1, MAX_POLLS_PER_CHAIN + 1))  # every name of chain 0, no more
    creation = keeping.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.error_code == "deadline_exceeded"
    assert creation.refunded and keeping.store.get_account("ivy").tokens == 100
    assert keeping.queue.dropped == []


def test_one_second_more_would_run_into_the_next_chains_names(keeping, clock):
    """Why the configuration refuses it: the first chain's last poll would take the name
    the reconciler's first requeue needs."""
    with_deadline(keeping, largest_deadline_seconds(2, 4) + 1)
    submit_video(keeping, "ivy", ORDER)

    ran = deliver_through_payloads(keeping, clock)

    assert ran[-1].seq == POLL_CHAIN  # the name of chain 1's first poll
    assert ran[-1].task_id.endswith(f"-poll-{POLL_CHAIN}")


def test_the_last_requeue_gets_new_names_up_to_the_limit(keeping, clock):
    with_deadline(keeping, largest_deadline_seconds(2, 4))
    cid = submit_video(keeping, "jon", ORDER).creation.id
    run_step(keeping, keeping.queue.take()[0])  # started; its poll chain is then lost
    keeping.queue.take()
    keeping.store.update_creation(cid, lambda c: c.with_changes(clock(), requeues=MAX_REQUEUES - 1))
    clock.advance(keeping.settings.stale_after_seconds + 1)

    assert reconcile(keeping).requeued == [cid]
    ran = deliver_through_payloads(keeping, clock)

    seqs = [t.seq for t in ran]
    assert seqs[0] == POLL_CHAIN * MAX_REQUEUES and max(seqs) < SEQ_LIMIT
    assert keeping.queue.dropped == []
    creation = keeping.store.get_creation(cid)
    assert creation.status is Status.FAILED and creation.requeues == MAX_REQUEUES
    assert creation.refunded
    assert_conserved(keeping.store, "jon")


def test_past_the_last_requeue_a_stuck_creation_ends_refunded(deps, clock):
    cid = submit_video(deps, "kim", ORDER).creation.id
    deps.queue.take()
    deps.store.update_creation(cid, lambda c: c.with_changes(clock(), requeues=MAX_REQUEUES))
    clock.advance(deps.settings.stale_after_seconds + 1)

    report = reconcile(deps)

    assert report.failed == [cid] and deps.queue.tasks == {}
    assert deps.store.get_creation(cid).refunded
    assert_conserved(deps.store, "kim")


def test_names_out_of_bounds_are_refused():
    with pytest.raises(ValueError, match="seq"):
        StepTask.from_payload({"creationId": "c1", "step": "poll", "seq": SEQ_LIMIT})
    assert StepTask.from_payload({"creationId": "c1", "step": "poll", "seq": SEQ_LIMIT - 1})
    with pytest.raises(ValueError, match="requeues"):
        start_task("c1", MAX_REQUEUES + 1)
