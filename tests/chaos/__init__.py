"""Fault injection over the real services and domain.

`faults.py`   a seeded fault plan and the port implementations that fail on purpose (around
              the in-memory store and fakes): store commits failing before and after they
              apply, late commits, the process dying after any write, queue outages, a
              generator that errors, filters, hangs or finishes too late, failed uploads
`world.py`    the simulated world: one clock (with per-call skews and jumps) and a simulated
              Cloud Tasks (named tasks, retries with the queue's backoff, duplicate, late,
              lost and out-of-order deliveries) driving the real worker steps and reconciler
`driver.py`   thousands of users' requests (videos, images, replays, cancels, reads), then
              the reconciler, then the audit (shared.audit: the operator's checks) and the
              per-creation checks; prints counts; `python -m tests.chaos.driver --seed S`
`stack.py`, `load.py`, `stack_run.py`   the same idea on the real local stack (part two)
"""
