"""The token bucket of the local Cloud Tasks server on its own, on a clock the test moves."""

from __future__ import annotations

import pytest
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.dispatcher import QueueRuntime
from devtools.cloud_tasks_server.token_bucket import TokenBucket, burst_for
from tests.seconds import FakeSeconds as Clock


def drain(bucket: TokenBucket) -> int:
    """Take tokens until one must be waited for; how many were taken."""
    taken = 0
    while bucket.take() == 0:
        taken += 1
    return taken


def test_a_new_bucket_is_full_then_waits_one_interval():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    assert drain(bucket) == 5
    assert bucket.take() == pytest.approx(0.5)


def test_a_refused_take_takes_nothing():
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.25)
    assert bucket.take() == pytest.approx(0.25)  # asking again does not push it further
    clock.advance(0.25)
    assert bucket.take() == 0


def test_the_wait_shrinks_as_the_bucket_refills():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    bucket.take()
    clock.advance(0.2)
    assert bucket.take() == pytest.approx(0.3)
    clock.advance(0.3)
    assert bucket.take() == 0


def test_tokens_come_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=3, clock=clock)
    drain(bucket)
    clock.advance(0.25)  # 2.5 tokens
    assert drain(bucket) == 2
    assert bucket.take() == pytest.approx(0.05)


def test_an_idle_bucket_holds_no_more_than_its_burst():
    clock = Clock()
    bucket = TokenBucket(rate=100.0, burst=4, clock=clock)
    drain(bucket)
    clock.advance(3600)
    assert drain(bucket) == 4


def test_a_rate_below_one_per_second():
    clock = Clock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(2.0)
    clock.advance(1.0)
    assert bucket.take() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rate", "burst"), [(500, 100), (100, 100), (2, 2), (2.5, 3), (0.5, 1), (0.01, 1)]
)
def test_the_burst_the_server_picks_for_a_rate(rate, burst):
    assert burst_for(rate) == burst


def queue(rate: float, burst: int, concurrent: int = 10) -> tasks_v2.Queue:
    return tasks_v2.Queue.pb(
        tasks_v2.Queue(
            name="projects/p/locations/l/queues/q",
            state=tasks_v2.Queue.State.RUNNING,
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=rate,
                max_burst_size=burst,
                max_concurrent_dispatches=concurrent,
            ),
        )
    )


def test_a_queue_keeps_its_bucket_until_its_rate_or_burst_changes():
    runtime = QueueRuntime("projects/p/locations/l/queues/q")
    runtime.configure(queue(rate=5, burst=5))
    bucket = runtime.bucket
    assert (bucket.rate, bucket.burst) == (5, 5)
    runtime.configure(queue(rate=5, burst=5, concurrent=20))  # another setting: same bucket
    assert runtime.bucket is bucket and runtime.max_concurrent == 20
    runtime.configure(queue(rate=7, burst=5))
    assert runtime.bucket is not bucket and (runtime.bucket.rate, runtime.bucket.burst) == (7, 5)
    renewed = runtime.bucket
    runtime.configure(queue(rate=7, burst=6))
    assert runtime.bucket is not renewed and runtime.bucket.burst == 6
