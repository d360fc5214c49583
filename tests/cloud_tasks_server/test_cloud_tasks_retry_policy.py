"""The retry policy of the local Cloud Tasks server on its own: backoff, limits, Retry-After.
No server and no clock: every time is given."""

from __future__ import annotations

import email.utils
from datetime import timedelta

import pytest
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.retry_policy import DEFAULT_RETRY, RetryPolicy, parse_retry_after

NOW = 1_700_000_000.0


def policy(**fields) -> RetryPolicy:
    return RetryPolicy.from_pb(tasks_v2.RetryConfig.pb(tasks_v2.RetryConfig(**fields)))


def test_an_empty_retry_config_is_the_service_default():
    assert policy() == DEFAULT_RETRY
    retry = DEFAULT_RETRY
    assert (retry.max_attempts, retry.max_retry_duration) == (100, 0.0)
    assert (retry.min_backoff, retry.max_backoff, retry.max_doublings) == (0.1, 3600.0, 16)


def test_the_documented_backoff_sequence():
    # The service's documentation: min 10 s, max 300 s, 3 doublings.
    retry = policy(
        min_backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=300), max_doublings=3
    )
    assert [retry.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]


def test_without_doublings_the_backoff_grows_linearly():
    retry = RetryPolicy(
        max_attempts=-1, max_retry_duration=0, min_backoff=2, max_backoff=7, max_doublings=0
    )
    # A message cannot say "0 doublings" (0 means the default), but a policy can.
    assert [retry.backoff(n) for n in range(1, 6)] == [2, 4, 6, 7, 7]


def test_max_backoff_caps_the_doublings():
    retry = policy(min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=5))
    assert [retry.backoff(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_sub_second_backoffs_are_kept():
    retry = policy(min_backoff=timedelta(seconds=0.2), max_backoff=timedelta(seconds=10))
    assert [retry.backoff(n) for n in range(1, 4)] == pytest.approx([0.2, 0.4, 0.8])
    assert DEFAULT_RETRY.backoff(1) == pytest.approx(0.1)
    assert DEFAULT_RETRY.backoff(100) == 3600.0


def test_a_task_retry_config_overrides_only_the_fields_it_sets():
    queue = policy(
        max_attempts=7, min_backoff=timedelta(seconds=3), max_backoff=timedelta(seconds=30)
    )
    task_config = tasks_v2.RetryConfig.pb(tasks_v2.RetryConfig(max_attempts=2))
    task = RetryPolicy.from_pb(task_config, queue)
    assert task == RetryPolicy(
        max_attempts=2,
        max_retry_duration=0.0,
        min_backoff=3.0,
        max_backoff=30.0,
        max_doublings=16,
    )


def test_max_attempts_alone_stops_at_that_attempt_however_young():
    retry = policy(max_attempts=3)
    assert not retry.exhausted(2, first_attempt=NOW, now=NOW)
    assert retry.exhausted(3, first_attempt=NOW, now=NOW)


def test_max_retry_duration_alone_stops_at_that_age_however_few_attempts():
    retry = policy(max_attempts=-1, max_retry_duration=timedelta(seconds=60))
    assert not retry.exhausted(1000, first_attempt=NOW, now=NOW + 59.9)
    assert retry.exhausted(1, first_attempt=NOW, now=NOW + 60)


def test_with_both_limits_both_must_be_reached():
    retry = policy(max_attempts=3, max_retry_duration=timedelta(seconds=60))
    assert not retry.exhausted(3, first_attempt=NOW, now=NOW + 10)  # attempts, not age
    assert not retry.exhausted(2, first_attempt=NOW, now=NOW + 600)  # age, not attempts
    assert retry.exhausted(3, first_attempt=NOW, now=NOW + 60)


def test_unlimited_attempts_and_duration_never_stop():
    retry = policy(max_attempts=-1)
    assert retry.max_retry_duration == 0
    assert not retry.exhausted(10**6, first_attempt=NOW, now=NOW + 10**9)


def test_a_longer_retry_after_wins_over_the_backoff():
    retry = policy(min_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=60))
    assert retry.retry_delay(1, retry_after=30.0) == 30.0
    assert retry.retry_delay(3, retry_after=2.0) == 4.0  # shorter: the backoff
    assert retry.retry_delay(3, retry_after=None) == 4.0
    assert retry.retry_delay(1, retry_after=600.0) == 600.0  # even beyond max_backoff


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-5", 0.0),  # never negative
        (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),
        (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),  # a date in the past: now
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(header, seconds):
    assert parse_retry_after(header, NOW) == seconds
