"""The queue gate with no CPU between requests (Cloud Run's default): nothing runs in the
background; a closed gate probes again inside a request once its backoff has passed, one
request at a time, and reopens when the queue is back. A fake clock, no sleeps."""

from __future__ import annotations

import logging
import threading

import pytest

from shared.domain.errors import QueueError
from shared.ports import QueueInfo, QueueState
from shared.services.queue_health import QueueHealth
from shared.services.videos import EnqueueFailed, QueueClosed, VideoOrder, submit_video
from tests.fakes import FakeQueue
from tests.seconds import FakeSeconds as FakeMonotonic

TTL = 5.0
RECHECK = 1.0
DOWN = QueueError("queue_unavailable")
ORDER = VideoOrder("a red fox running through snow", {"aspectRatio": "16:9"})


class HeldQueue(FakeQueue):
    """A FakeQueue whose `info()` waits until released, and counts the calls in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self._count = threading.Lock()

    def info(self) -> QueueInfo:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.entered.set()
        try:
            assert self.release.wait(30), "the test never released the probe"
            return super().info()
        finally:
            with self._count:
                self.in_flight -= 1


@pytest.fixture
def mono() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def gate(queue: FakeQueue, mono: FakeMonotonic) -> QueueHealth:
    return QueueHealth(queue, TTL, recheck_seconds=RECHECK, monotonic=mono)


def closed_by_a_failed_submit(gate: QueueHealth, queue: FakeQueue) -> None:
    assert gate.check().ok
    queue.failure = DOWN
    gate.report_failure(DOWN)
    assert gate.check().status == "unavailable"


def closed_and_due_for_a_probe(mono: FakeMonotonic) -> tuple[QueueHealth, HeldQueue]:
    """A gate closed by a failed submit, its queue back but held in info(), a recheck due."""
    queue = HeldQueue()
    gate = QueueHealth(queue, TTL, recheck_seconds=RECHECK, monotonic=mono)
    queue.release.set()
    closed_by_a_failed_submit(gate, queue)
    queue.failure = None
    queue.release.clear()
    queue.entered.clear()
    mono.advance(RECHECK)
    return gate, queue


@pytest.fixture
def no_threads(monkeypatch):
    """Any thread started from here on fails the test."""

    def refuse(self: threading.Thread) -> None:
        raise AssertionError(f"a thread was started: {self.name}")

    monkeypatch.setattr(threading.Thread, "start", refuse)


def test_the_gate_starts_no_thread_closed_reopened_or_paused(gate, queue, mono, no_threads):
    closed_by_a_failed_submit(gate, queue)
    mono.advance(RECHECK)
    assert gate.check().status == "unavailable"  # still down: probed, stays closed
    queue.failure = None
    mono.advance(RECHECK)
    assert gate.check().ok
    assert gate.observe(queue.pause()).status == "paused"  # an operator pauses it
    mono.advance(RECHECK)
    assert gate.check().status == "paused"
    queue.resume()
    mono.advance(RECHECK)
    assert gate.check().ok


def test_a_closed_gate_probes_nothing_until_its_backoff_has_passed(gate, queue, mono):
    closed_by_a_failed_submit(gate, queue)
    queue.failure = None  # the queue is back
    probes = queue.info_calls

    mono.advance(RECHECK * 0.99)
    for _ in range(50):
        assert gate.check().status == "unavailable"
    assert queue.info_calls == probes  # a burst of requests costs no call to the queue

    mono.advance(RECHECK * 0.01)
    assert gate.check().ok  # this request probed, and the gate reopened
    assert queue.info_calls == probes + 1


def test_a_queue_still_down_is_probed_once_per_backoff(gate, queue, mono):
    closed_by_a_failed_submit(gate, queue)
    probes = queue.info_calls
    for round_ in range(1, 4):
        mono.advance(RECHECK)
        for _ in range(10):
            assert gate.check().status == "unavailable"
        assert queue.info_calls == probes + round_


def test_an_open_gate_probes_again_after_its_ttl_only(gate, queue, mono):
    assert gate.check().ok
    queue.state = QueueState.PAUSED
    mono.advance(TTL * 0.99)
    assert gate.check().ok  # cached
    mono.advance(TTL * 0.01)
    assert gate.check().status == "paused"


def test_at_most_one_probe_in_flight_and_the_others_answer_at_once(mono):
    gate, queue = closed_and_due_for_a_probe(mono)

    answers: list[str] = []
    prober = threading.Thread(target=lambda: answers.append(gate.check().status))
    prober.start()
    assert queue.entered.wait(30)  # the first request is probing, held in info()
    others = [gate.check().status for _ in range(20)]  # requests arriving meanwhile
    queue.release.set()
    prober.join(30)

    assert not prober.is_alive()
    assert others == ["unavailable"] * 20  # answered from the current state, not waiting
    assert answers == ["ok"] and gate.check().ok
    assert queue.most_in_flight == 1


def test_the_first_requests_wait_for_the_first_probe(mono):
    """With no state yet there is nothing to answer from: they wait for the one probe."""
    queue = HeldQueue()
    gate = QueueHealth(queue, TTL, recheck_seconds=RECHECK, monotonic=mono)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(gate.check().status)) for _ in "ab"]
    for thread in threads:
        thread.start()
    assert queue.entered.wait(30)
    queue.release.set()
    for thread in threads:
        thread.join(30)
    assert answers == ["ok", "ok"] and queue.info_calls == 1


def test_a_failure_reported_during_a_probe_stands(mono):
    gate, queue = closed_and_due_for_a_probe(mono)

    prober = threading.Thread(target=gate.check)
    prober.start()
    assert queue.entered.wait(30)
    gate.report_failure(DOWN)  # a submit met the queue down while the probe ran
    queue.release.set()
    prober.join(30)

    assert gate.check().status == "unavailable"  # the newer news wins until the next probe
    mono.advance(RECHECK)
    assert gate.check().ok


def test_submits_are_refused_then_accepted_once_the_queue_is_back(deps):
    """The whole path: a submit closes the gate, the next ones are refused uncharged, and
    the first submit after the backoff probes inside its own request and is accepted."""
    monotonic = FakeMonotonic()
    deps.queue_health = QueueHealth(deps.queue, 3600, recheck_seconds=RECHECK, monotonic=monotonic)
    assert submit_video(deps, "ada", ORDER).balance == 90
    deps.queue.failure = DOWN
    with pytest.raises(EnqueueFailed):  # charged, refunded; the gate closes
        submit_video(deps, "ada", ORDER)
    deps.queue.failure = None  # the queue is back, but no probe is due
    with pytest.raises(QueueClosed):
        submit_video(deps, "ada", ORDER)
    assert deps.store.get_account("ada").tokens == 90

    monotonic.advance(RECHECK)
    accepted = submit_video(deps, "ada", ORDER)
    assert accepted.balance == 80 and deps.queue_health.check().ok


def test_each_refused_submit_is_logged_once_and_is_no_enqueue_attempt(deps, caplog):
    """What terraform/monitoring.tf's queue_gate_refused metric and its alert count: one
    `video.rejected_queue_closed` line per submit the gate refuses, with the queue's status;
    never `video.submitted` or `video.enqueue_failed` (the enqueue-attempt metric's events).
    A replay of an accepted request while the gate is closed is no refusal."""
    caplog.set_level(logging.INFO, logger="creator.events")
    monotonic = FakeMonotonic()
    deps.queue_health = QueueHealth(deps.queue, 3600, recheck_seconds=RECHECK, monotonic=monotonic)
    submit_video(deps, "ada", ORDER, idempotency_key="k-1")
    deps.queue.failure = DOWN
    with pytest.raises(EnqueueFailed):  # the submit that closes the gate: an enqueue attempt
        submit_video(deps, "ada", ORDER)
    caplog.clear()

    for uid in ("ada", "bob", "ada"):
        with pytest.raises(QueueClosed):
            submit_video(deps, uid, ORDER)
    submit_video(deps, "ada", ORDER, idempotency_key="k-1")  # answered from the replay

    lines = [(r.event, r.fields) for r in caplog.records if hasattr(r, "event")]
    refused = [fields for event, fields in lines if event == "video.rejected_queue_closed"]
    assert [f["userId"] for f in refused] == ["ada", "bob", "ada"]
    assert {f["queueStatus"] for f in refused} == {"unavailable"}
    assert not {e for e, _ in lines} & {"video.submitted", "video.enqueue_failed"}
