"""Submitting a video: debit, enqueue, refund when the enqueue fails, gate when closed."""

from __future__ import annotations

import dataclasses

import pytest

from shared.domain import creation as transitions
from shared.domain.creation import Status
from shared.domain.errors import InsufficientTokens, QueueError, StoreUnavailable
from shared.domain.ledger import EntryType
from shared.ports import QueueState
from shared.services.queue_health import QueueHealth
from shared.services.videos import EnqueueFailed, QueueClosed, VideoOrder, submit_video
from tests.contract.invariants import assert_conserved

ORDER = VideoOrder("a red fox running through snow", {"aspectRatio": "16:9"})


def gate_saw_it_running(deps):
    """The health gate checked the queue a moment ago and caches RUNNING for a while."""
    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    assert deps.queue_health.check().ok


def entry_types(deps, uid):
    return sorted(str(e.type) for e in deps.store.ledger(uid, 100))


def test_submit_debits_creates_pending_and_enqueues_start(deps):
    accepted = submit_video(deps, "alice", ORDER)

    assert accepted.balance == 90
    assert accepted.creation.status is Status.PENDING
    assert [t.task_id for t in deps.queue.tasks.values()] == [f"{accepted.creation.id}-start-0"]
    assert entry_types(deps, "alice") == ["debit", "grant"]
    assert_conserved(deps.store, "alice")


def test_short_balance_is_refused_and_nothing_is_written(deps):
    deps.settings = dataclasses.replace(deps.settings, max_in_flight_videos=0)  # no limit
    for _ in range(10):
        submit_video(deps, "bob", ORDER)
    with pytest.raises(InsufficientTokens) as refused:
        submit_video(deps, "bob", ORDER)

    assert (refused.value.balance, refused.value.required) == (0, 10)
    assert len(deps.store.ledger("bob", 100)) == 11  # one grant, ten debits
    assert_conserved(deps.store, "bob")


def test_enqueue_failure_refunds_marks_failed_and_says_so(deps):
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_unavailable", "connection refused")

    with pytest.raises(EnqueueFailed) as failed:
        submit_video(deps, "carol", ORDER)

    creation = deps.store.get_creation(failed.value.creation.id)
    assert failed.value.refunded and failed.value.balance == 100
    assert creation.status is Status.FAILED
    assert creation.refunded and creation.queue_error_code == "queue_unavailable"
    assert creation.error_code == "enqueue_failed"
    assert entry_types(deps, "carol") == ["debit", "grant", "refund"]
    assert deps.store.get_account("carol").total_tokens_spent == 0
    assert_conserved(deps.store, "carol")


def test_refund_that_cannot_be_written_is_reported_not_hidden(deps):
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_unavailable")
    deps.store.fail_next("refund", StoreUnavailable("down"))

    with pytest.raises(EnqueueFailed) as failed:
        submit_video(deps, "dan", ORDER)

    assert failed.value.refunded is False
    assert deps.store.get_creation(failed.value.creation.id).status is Status.PENDING


@pytest.mark.parametrize("state", [QueueState.PAUSED, QueueState.DISABLED])
def test_gate_refuses_a_paused_or_disabled_queue_without_charging(deps, state):
    deps.queue.state = state
    with pytest.raises(QueueClosed) as closed:
        submit_video(deps, "erin", ORDER)

    assert closed.value.report.status == state.value
    assert deps.store.get_account("erin") is None
    assert deps.queue.tasks == {}


def test_gate_refuses_an_unreachable_queue_without_charging(deps):
    deps.queue.failure = QueueError("queue_unavailable")
    with pytest.raises(QueueClosed) as closed:
        submit_video(deps, "erin", ORDER)
    assert closed.value.report.status == "unavailable"
    assert deps.store.get_account("erin") is None


def test_same_idempotency_key_charges_once(deps):
    first = submit_video(deps, "fay", ORDER, idempotency_key="k-1")
    again = submit_video(deps, "fay", ORDER, idempotency_key="k-1")
    other = submit_video(deps, "fay", ORDER, idempotency_key="k-2")

    assert again.replayed and again.creation.id == first.creation.id
    assert other.creation.id != first.creation.id
    assert [e.type for e in deps.store.ledger("fay", 100)].count(EntryType.DEBIT) == 2
    assert deps.store.get_account("fay").tokens == 80
    assert len(deps.queue.tasks) == 2


def test_idempotency_keys_of_two_users_never_meet(deps):
    a = submit_video(deps, "gus", ORDER, idempotency_key="same")
    b = submit_video(deps, "hal", ORDER, idempotency_key="same")
    assert a.creation.id != b.creation.id and not b.replayed


def test_a_replay_during_an_outage_leaves_a_running_creation_alone(deps):
    """The client lost the 202 and retries with the same key while the queue is down: the
    creation that is already generating is neither failed nor refunded."""
    first = submit_video(deps, "gus", ORDER, "key-1")
    deps.store.update_creation(first.creation.id, lambda c: transitions.claim(c, "w", deps.clock()))
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_unavailable")

    again = submit_video(deps, "gus", ORDER, "key-1")

    assert again.replayed and again.creation.status is Status.PROCESSING
    assert not deps.store.get_creation(first.creation.id).refunded
    assert deps.store.get_account("gus").tokens == 90
    assert_conserved(deps.store, "gus")


def test_an_ambiguous_failure_after_the_task_was_created_is_accepted_not_refunded(deps):
    """A deadline that hits after Cloud Tasks created the task: the queue is asked (the same
    named task again: ALREADY_EXISTS), the task is there, and the paid generation goes on."""
    gate_saw_it_running(deps)
    deps.queue.failure_after_create = QueueError("queue_deadline_exceeded")

    accepted = submit_video(deps, "ida", ORDER)

    creation = deps.store.get_creation(accepted.creation.id)
    assert creation.status is Status.PENDING and not creation.refunded
    assert f"{creation.id}-start-0" in deps.queue.tasks
    assert entry_types(deps, "ida") == ["debit", "grant"]


class ClaimedWhileFailing:
    """The task was created and a worker claimed the creation before the api's call failed,
    and the queue cannot be asked either."""

    def __init__(self, deps):
        self.deps = deps

    def enqueue(self, task):
        claim = transitions.claim
        self.deps.store.update_creation(task.creation_id, lambda c: claim(c, "w", c.updated_at))
        raise QueueError("queue_deadline_exceeded")

    def info(self):
        return self.deps.queue.info()


def test_an_enqueue_failure_never_refunds_a_creation_a_worker_has_claimed(deps):
    gate_saw_it_running(deps)
    deps.queue = ClaimedWhileFailing(deps)

    accepted = submit_video(deps, "jo", ORDER)

    creation = deps.store.get_creation(accepted.creation.id)
    assert creation.status is Status.PROCESSING and not creation.refunded
    assert entry_types(deps, "jo") == ["debit", "grant"]
    assert_conserved(deps.store, "jo")


def test_an_ambiguous_failure_whose_task_does_not_exist_is_refunded(deps):
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_deadline_exceeded")

    with pytest.raises(EnqueueFailed) as failed:
        submit_video(deps, "kim", ORDER)

    assert failed.value.refunded and failed.value.queue_code == "queue_deadline_exceeded"
    assert entry_types(deps, "kim") == ["debit", "grant", "refund"]


def test_an_unreachable_queue_closes_the_gate_at_once(deps):
    """One failed enqueue, and the next submits are refused before they are charged, though
    the gate's cache still says RUNNING for an hour."""
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_unavailable")

    with pytest.raises(EnqueueFailed):
        submit_video(deps, "lea", ORDER)
    for _ in range(5):
        with pytest.raises(QueueClosed):
            submit_video(deps, "lea", ORDER)

    assert entry_types(deps, "lea") == ["debit", "grant", "refund"]
    assert deps.store.get_account("lea").tokens == 100


def test_a_refused_task_does_not_close_the_gate(deps):
    gate_saw_it_running(deps)
    deps.queue.failure = QueueError("queue_invalid_request")
    with pytest.raises(EnqueueFailed):
        submit_video(deps, "max", ORDER)
    assert deps.queue_health.check().ok


def test_the_gate_reopens_by_itself_when_the_queue_returns(deps):
    from tests.waiting import wait_for

    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600, recheck_seconds=0.05)
    assert deps.queue_health.check().ok
    deps.queue.failure = QueueError("queue_unavailable")
    with pytest.raises(EnqueueFailed):
        submit_video(deps, "ned", ORDER)
    assert deps.queue_health.check().status == "unavailable"

    deps.queue.failure = None  # the queue is back; the cache alone would wait an hour
    wait_for(lambda: deps.queue_health.check().ok, timeout=30)
    assert submit_video(deps, "ned", ORDER).creation.status is Status.PENDING


def test_a_replay_while_the_gate_is_closed_answers_what_the_first_request_answered(deps):
    first = submit_video(deps, "una", ORDER, "key-1")
    deps.queue.state = QueueState.PAUSED  # the gate closes

    again = submit_video(deps, "una", ORDER, "key-1")

    assert again.replayed and again.creation.id == first.creation.id
    assert again.balance == 90
    with pytest.raises(QueueClosed):  # a new request is still refused, uncharged
        submit_video(deps, "una", ORDER, "key-2")
    assert deps.store.get_account("una").tokens == 90
