"""The simulated world: one clock, a simulated Cloud Tasks and Cloud Scheduler, no sleeps.

Time only moves when the world says so: to the next due task, deferred commit or sweep, or
when a call "hangs". Everything runs in one thread, in an order drawn from the seed; an
interleaving (another delivery or a sweep between two store calls of a step) stands for two
processes racing.

Cloud Tasks is the tests' one simulated queue (tests/fakes/queue.py: named tasks, a name
taken for an hour after its task ran, retries by terraform/queue.tf's policy) on the
world's clock, with at-least-once delivery; a 5xx or a dead worker is retried by that
policy, then dropped. Faults: a delivery duplicated, a task delivered late (so out of
order), a task lost.
"""

from __future__ import annotations

import heapq
import itertools
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.errors import QueueError, StoreContention, StoreUnavailable
from shared.domain.step_tasks import StepTask
from shared.ports import QueueInfo, QueueState
from shared.services.reconcile import reconcile
from shared.services.video_steps import run_step
from tests.chaos.faults import FaultPlan, WorkerDied
from tests.fakes.queue import NAME_KEPT, FakeQueue

if TYPE_CHECKING:
    from shared.bootstrap import Container

EPOCH = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SWEEP_EVERY = 300.0  # Cloud Scheduler's reconcile job
MAX_DEPTH = 2  # nested interleavings


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    kind: str = field(compare=False)  # task | call
    task: StepTask | None = field(compare=False, default=None)
    first_attempt: float = field(compare=False, default=0.0)
    attempt: int = field(compare=False, default=0)
    duplicate: bool = field(compare=False, default=False)
    call: Callable[[], None] | None = field(compare=False, default=None)
    label: str = field(compare=False, default="")


class World:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        plan.world = self
        self.seconds = 0.0  # world time since EPOCH
        self.skew = 0.0  # the current request's or step's clock error
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self.next_sweep = SWEEP_EVERY
        self.deps: Container | None = None
        self.depth = 0
        self.context: list[str | None] = []  # the creation each nested step works on
        self.last_new_id: str | None = None
        self._issued = 0
        self.traces: dict[str | None, list[str]] = defaultdict(list)
        self.outcomes: Counter = Counter()  # step and sweep outcomes
        self.unexpected: list[str] = []  # exceptions no service should raise (a 500)
        self.before_sweep: Callable[[], None] | None = None

    # -- time ---------------------------------------------------------------------------

    def clock(self) -> datetime:
        return EPOCH + timedelta(seconds=self.seconds + self.skew)

    @property
    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)

    def maybe_jump(self) -> None:
        """Now and then the clock jumps: 5 to 40 minutes pass with nothing running (every
        process paused, the scheduler's runs missed); then everything due runs at once."""
        if self.plan.hit("clock_jump"):
            jump = self.plan.rng.uniform(300, 2400)
            self.seconds += jump
            self.next_sweep = self.seconds + self.plan.rng.uniform(0, SWEEP_EVERY)
            self.outcomes["clock jumps (s)"] += int(jump)

    def draw_skew(self) -> None:
        """Each request or step: usually the true time; now and then a clock ahead (up to
        25 min: an instance whose clock jumped) or a little behind."""
        self.skew = 0.0
        if self.plan.hit("clock_skew"):
            rng = self.plan.rng
            self.skew = rng.uniform(30, 1500) if rng.random() < 0.8 else -rng.uniform(1, 30)
            self.note(f"clock skew {self.skew:+.0f} s")

    # -- traces -------------------------------------------------------------------------

    @property
    def current_creation(self) -> str | None:
        return self.context[-1] if self.context else None

    def note(self, text: str, creation_id: str | None = None) -> None:
        cid = creation_id or self.current_creation
        if cid is not None:
            self.traces[cid].append(f"t={self.seconds:9.2f} {text}")

    def new_id(self) -> str:
        """Creation ids in order (c000001, ...): Container(new_id=world.new_id)."""
        self.last_new_id = self.peek_id()
        self._issued += 1
        return self.last_new_id

    def peek_id(self) -> str:
        """The id the next creation will get (a request's trace starts before it)."""
        return f"c{self._issued + 1:06d}"

    # -- events -------------------------------------------------------------------------

    def later(self, delay: float, call: Callable[[], None], label: str) -> None:
        self.note(f"{label} in {delay:.2f} s")
        due = self.seconds + delay
        heapq.heappush(self._events, _Event(due, next(self._seq), "call", call=call, label=label))

    def push_task(self, task: StepTask, due: float, **kw: Any) -> None:
        event = _Event(due, next(self._seq), "task", task=task, **kw)
        heapq.heappush(self._events, event)

    def run_until(self, until: float) -> None:
        """Run every event and sweep due up to `until`, in time order, then move there."""
        while True:
            next_event = self._events[0].due if self._events else float("inf")
            if min(next_event, self.next_sweep) > until:
                break
            if self.next_sweep <= next_event:
                self.seconds = max(self.seconds, self.next_sweep)
                self.next_sweep += SWEEP_EVERY
                self.sweep()
                continue
            event = heapq.heappop(self._events)
            self.seconds = max(self.seconds, event.due)
            self._run(event)
        self.seconds = max(self.seconds, until)

    def idle(self) -> bool:
        return not self._events

    def _run(self, event: _Event) -> None:
        if event.kind == "call":
            assert event.call is not None
            event.call()
            return
        self.queue.dispatch(event)

    # -- processes ----------------------------------------------------------------------

    def deliver(self, task: StepTask) -> str:
        """One HTTP delivery of a step to the worker: its outcome, or `died`."""
        assert self.deps is not None
        self.context.append(task.creation_id)
        self.draw_skew()
        try:
            result = run_step(self.deps, task)
            outcome = "retry" if result.retry else "ok"
            self.note(f"{task.task_id}: {result.status} {result.outcome}")
            self.outcomes[f"step {result.outcome.split(':')[0]}"] += 1
        except WorkerDied:
            outcome = "died"
        except (StoreUnavailable, StoreContention) as exc:  # the worker app answers 503
            self.note(f"{task.task_id}: 503 {type(exc).__name__}")
            outcome = "retry"
        except Exception:  # a 500: no service should ever get here
            self.unexpected.append(f"{task.task_id}\n{traceback.format_exc()}")
            self.note(f"{task.task_id}: 500 {traceback.format_exc(limit=1)}")
            outcome = "retry"
        finally:
            self.skew = 0.0
            self.context.pop()
        return outcome

    def sweep(self) -> None:
        """Cloud Scheduler's job: one reconcile call (a failed call waits for the next)."""
        assert self.deps is not None
        if self.before_sweep is not None:
            self.before_sweep()
        self.draw_skew()
        try:
            report = reconcile(self.deps)
            self.outcomes["sweep ok"] += 1
            for cid in report.failed:
                self.note("reconciler failed + refunded it", cid)
            for cid in report.requeued:
                self.note("reconciler re-queued it", cid)
        except WorkerDied:
            self.outcomes["sweep died"] += 1
        except (StoreUnavailable, StoreContention, QueueError):
            self.outcomes["sweep 503"] += 1
        except Exception:
            self.unexpected.append(f"reconcile\n{traceback.format_exc()}")
        finally:
            self.skew = 0.0

    def maybe_interleave(self) -> None:
        """Another process acts now, between two calls of the current one: a delivery of
        the same task (a duplicate racing it), of another due task, or a sweep."""
        if self.depth >= MAX_DEPTH or self.deps is None or not self.plan.hit("interleave"):
            return
        self.depth += 1
        saved = self.skew
        try:
            rng = self.plan.rng
            current = self.current_creation
            roll = rng.random()
            if roll < 0.1:
                self.sweep()
            elif current is not None and roll < 0.6:
                self.deliver(_start_or_poll(current, rng))
            else:
                self.queue.deliver_one_due()
        except WorkerDied:
            pass  # the other process died: this one goes on
        finally:
            self.skew = saved
            self.depth -= 1

    @property
    def queue(self) -> SimTasks:
        assert self.deps is not None
        return self.deps.queue  # type: ignore[return-value]


def _start_or_poll(creation_id: str, rng: Any) -> StepTask:
    from shared.domain.step_tasks import Step

    if rng.random() < 0.5:
        return StepTask(creation_id, Step.START)
    return StepTask(creation_id, Step.POLL, rng.randint(1, 5))


class SimTasks(FakeQueue):
    """The simulated queue with the world's faults, and Cloud Tasks' dispatcher, on the
    world's clock."""

    def __init__(self, world: World, name: str) -> None:
        super().__init__(name, now=lambda: world.seconds)
        self.world = world
        self.plan = world.plan
        self.stats: Counter = Counter()

    # -- the port -----------------------------------------------------------------------

    def enqueue(self, task: StepTask) -> None:
        plan, world = self.plan, self.world
        world.maybe_interleave()
        if plan.hit("queue_fails_before"):
            raise QueueError(
                plan.rng.choice(["queue_unavailable", "queue_deadline_exceeded", "queue_error"]),
                "injected",
            )
        name = task.task_id
        if name in self.tasks or self.taken.get(name, -1.0) > world.seconds:
            return  # AlreadyExists: success
        if plan.hit("task_lost"):
            world.note(f"task {name} lost by the queue")
            self.taken[name] = world.seconds + NAME_KEPT
        else:
            self.create(task)
            due = world.seconds + task.delay_seconds
            if plan.hit("task_late"):
                due += plan.rng.uniform(5, 900)
            world.push_task(task, due, first_attempt=due)
            self.stats["created"] += 1
        if plan.hit("queue_fails_after_create"):
            raise QueueError(
                plan.rng.choice(["queue_deadline_exceeded", "queue_unavailable"]), "injected"
            )
        plan.die_after(f"queue.enqueue {name}")

    def waiting(self, task: StepTask) -> bool:
        if self.plan.hit("queue_fails_before"):
            raise QueueError("queue_unavailable", "injected")
        return task.task_id in self.tasks

    def delete(self, task: StepTask) -> bool:
        if self.plan.hit("queue_fails_before"):
            raise QueueError("queue_unavailable", "injected")
        found = super().delete(task)
        self.plan.die_after(f"queue.delete {task.task_id}")
        return found

    def info(self) -> QueueInfo:
        if self.plan.hit("queue_info_fails"):
            raise QueueError("queue_unavailable", "injected")
        if self.plan.hit("queue_paused"):
            return QueueInfo(self.name, QueueState.PAUSED)
        return QueueInfo(self.name, QueueState.RUNNING)

    # -- the dispatcher -----------------------------------------------------------------

    def dispatch(self, event: _Event) -> None:
        assert event.task is not None
        task, name = event.task, event.task.task_id
        if not event.duplicate and self.tasks.get(name) is not task:
            return  # deleted, or delivered by an interleaving already
        if not event.duplicate and self.plan.hit("task_duplicate"):
            delay = self.plan.rng.uniform(0, 30)
            self.world.push_task(task, self.world.seconds + delay, duplicate=True)
        self.stats["deliveries"] += 1
        outcome = self.world.deliver(task)
        if outcome == "ok":
            if not event.duplicate:
                self.settle(task)
            return
        if event.duplicate:
            return  # only the original is retried
        self.stats[f"retries after {outcome}"] += 1
        due = self.next_attempt(event.attempt + 1, event.first_attempt)
        if due is None:
            self.stats["dropped: retries exhausted"] += 1
            self.world.note(f"task {name} dropped: retries exhausted")
            self.settle(task)
            return
        self.world.push_task(
            task, due, first_attempt=event.first_attempt, attempt=event.attempt + 1
        )

    def deliver_one_due(self) -> None:
        """An interleaving: the earliest waiting task that is due now runs at once (out of
        its turn); its event later finds it done and is skipped."""
        due = [
            e
            for e in self.world._events[:8]
            if e.kind == "task" and not e.duplicate and e.due <= self.world.seconds
        ]
        if not due:
            return
        event = min(due)
        assert event.task is not None
        if self.tasks.get(event.task.task_id) is not event.task:
            return
        if self.world.deliver(event.task) == "ok":
            self.settle(event.task)
