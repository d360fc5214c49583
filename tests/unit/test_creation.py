"""The creation state machine: terminal states never change, refunds happen once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import creation as t
from shared.domain.creation import Creation, Status
from tests.builders import video

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def make(**changes) -> Creation:
    base = video(cid="c1", at=NOW, deadline=timedelta(hours=1))
    return base.with_changes(NOW, **changes)


def test_claim_is_won_once():
    claimed = t.claim(make(), "a", NOW)
    assert claimed.status is Status.PROCESSING and claimed.attempts == 1
    assert t.claim(claimed, "b", NOW) is None


def test_an_operation_is_recorded_once_and_only_by_its_claim():
    claimed = t.claim(make(), "a", NOW)
    assert t.record_operation(claimed, "b", "op", NOW) is None
    recorded = t.record_operation(claimed, "a", "op", NOW)
    assert recorded.operation_name == "op"
    assert t.record_operation(recorded, "a", "op2", NOW) is None
    assert t.release_claim(recorded, "a", NOW) is None  # never released once started


@pytest.mark.parametrize("status", [Status.DRAFT, Status.FAILED, Status.CANCELLED])
def test_terminal_states_never_change(status):
    c = make(status=status)
    assert t.claim(c, "a", NOW) is None
    assert t.complete(c, "url", NOW) is None
    assert t.touch_progress(c, 50, NOW) is None
    assert t.count_requeue(c, NOW) is None
    assert t.end_with_refund(c, NOW, t.Refund("x")) is None


def test_refund_marks_failed_and_refunded_with_the_sentence_for_its_code():
    failed = t.end_with_refund(
        make(), NOW, t.Refund("generation_failed", queue_error_code="queue_unavailable")
    )
    assert (failed.status, failed.refunded) == (Status.FAILED, True)
    assert failed.error_code == "generation_failed"
    assert failed.error_message == "The generation failed. Your tokens were refunded."
    assert failed.queue_error_code == "queue_unavailable"


def test_a_refund_never_stores_a_provider_s_own_words():
    failed = t.end_with_refund(make(), NOW, t.Refund("some_new_code"))
    assert failed.error_message == "The generation failed. Your tokens were refunded."


def test_cancel_only_before_generation_started():
    cancel = t.Refund.cancelled()
    assert t.end_with_refund(make(), NOW, cancel).status is Status.CANCELLED
    started = make(status=Status.PROCESSING, operation_name="op")
    assert t.end_with_refund(started, NOW, cancel) is None
    assert t.end_with_refund(make(status=Status.PROCESSING), NOW, cancel) is None


def test_an_enqueue_failure_refunds_only_an_unclaimed_creation():
    only_pending = t.Refund("enqueue_failed", only_if_pending=True)
    assert t.end_with_refund(make(), NOW, only_pending).refunded
    assert t.end_with_refund(make(status=Status.PROCESSING), NOW, only_pending) is None


@pytest.mark.parametrize(
    ("refund", "status", "ending"),
    [
        (t.Refund("generation_failed"), Status.FAILED, t.Ending.FAILED),
        (t.Refund("enqueue_failed", only_if_pending=True), Status.FAILED, t.Ending.FAILED),
        (t.Refund.expired(), Status.FAILED, t.Ending.EXPIRED),
        (t.Refund.cancelled(), Status.CANCELLED, t.Ending.CANCELLED),
    ],
)
def test_each_end_is_named_for_what_it_is_and_read_back_the_same(refund, status, ending):
    ended = t.end_with_refund(make(), NOW, refund)
    assert (ended.status, ended.refunded, refund.ending) == (status, True, ending)
    assert t.ending_of(ended) is ending  # from the stored state and errorCode alone


def test_a_running_creation_or_a_draft_has_no_ending():
    assert t.ending_of(make()) is None
    assert t.ending_of(make(status=Status.DRAFT, media_key="k")) is None


def test_progress_never_goes_back_and_stays_below_100_until_done():
    c = t.touch_progress(make(status=Status.PROCESSING), 150, NOW)
    assert c.progress == 99
    later = NOW + t.PROGRESS_HEARTBEAT
    assert t.touch_progress(c, 10, later).progress == 99
    assert t.complete(c, "url", NOW).progress == 100


def test_a_poll_is_written_when_progress_moved_or_as_a_heartbeat_only():
    c = make(status=Status.PROCESSING)
    assert t.touch_progress(c, 5, c.updated_at + timedelta(seconds=4)) is None
    moved = t.touch_progress(c, 12, c.updated_at + timedelta(seconds=4))
    assert moved.progress == 12
    beat = t.touch_progress(moved, 12, moved.updated_at + t.PROGRESS_HEARTBEAT)
    assert beat.updated_at == moved.updated_at + t.PROGRESS_HEARTBEAT
