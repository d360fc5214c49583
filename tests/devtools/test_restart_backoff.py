"""make dev starts a crashed function again after a bounded backoff: 0.5 s, doubling to 10 s
while it keeps ending, back to 0.5 s once a start has stayed up 30 s."""

from __future__ import annotations

from devtools.processes import RestartBackoff


def test_the_delay_doubles_to_its_cap_while_the_process_keeps_ending():
    backoff = RestartBackoff(first=0.5, cap=10, stable=30)
    now, delays = 0.0, []
    for _ in range(8):
        delay = backoff.ended(now)
        delays.append(delay)
        now += delay
        backoff.started(now)
        now += 1  # up one second, then ends again
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert backoff.restarts == 8


def test_a_start_that_stayed_up_resets_the_delay_not_the_count():
    backoff = RestartBackoff(first=0.5, cap=10, stable=30)
    backoff.started(0)
    assert backoff.ended(5) == 0.5
    backoff.started(5.5)
    assert backoff.ended(6) == 1
    backoff.started(7)
    assert backoff.ended(7 + 29.9) == 2  # up less than `stable`
    backoff.started(40)
    assert backoff.ended(70) == 0.5  # up 30 s: a new crash, not the same one again
    assert backoff.restarts == 4
