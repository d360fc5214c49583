"""The one simulated Cloud Tasks of the tests: the TaskQueue port in memory, with Cloud
Tasks' rules for names and retries.

- Named tasks: a second task of a waiting name is dropped (ALREADY_EXISTS, a success), and
  a name stays taken for NAME_KEPT seconds after its task ran or was deleted.
- Retries: `next_attempt` says when a failed delivery is tried again, or that it is given
  up, by the video queue's retry policy as terraform/queue.tf sets it
  (devtools/queue_policy.py: the same source Terraform and `make dev` use).

The unit tests use it as it is (`take()` delivers; tests/unit/simulation.py plays the
deliveries and retries on a clock); the chaos world (tests/chaos/world.py) puts its faults
and its clock on top of it. Time is the queue's `now()` in seconds: by default it does not
move, so a name taken in a unit test stays taken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from devtools.cloud_tasks_server.retry_policy import RetryPolicy
from devtools.queue_policy import video_queue_retry_policy
from shared.domain.errors import QueueError
from shared.domain.step_tasks import StepTask
from shared.ports import QueueInfo, QueueState

NAME_KEPT = 3600.0  # seconds a task's name stays taken after it ran or was deleted


class FakeQueue:
    """`failure` makes every call raise before anything happens; `failure_after_create`
    makes `enqueue` create the task and then raise, as a deadline that hits after the
    service created it does."""

    def __init__(
        self,
        name: str = "projects/p/locations/l/queues/q",
        now: Callable[[], float] = lambda: 0.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.now = now
        self.policy = policy or video_queue_retry_policy()
        self.state = QueueState.RUNNING
        self.tasks: dict[str, StepTask] = {}  # created and not yet run to success
        self.taken: dict[str, float] = {}  # name -> until when it stays taken
        self.failure: QueueError | None = None
        self.failure_after_create: QueueError | None = None
        self.info_calls = 0
        self._lock = threading.Lock()

    # -- Cloud Tasks' rules ---------------------------------------------------------------

    def create(self, task: StepTask) -> bool:
        """Create the named task; False when its name is taken (ALREADY_EXISTS)."""
        with self._lock:
            name = task.task_id
            if name in self.tasks or self.taken.get(name, -1.0) > self.now():
                return False
            self.tasks[name] = task
            self.taken[name] = float("inf")
            return True

    def settle(self, task: StepTask) -> bool:
        """The task ran to success (or was given up): it leaves the queue, its name stays
        taken for NAME_KEPT. False when it was no longer there."""
        with self._lock:
            if self.tasks.get(task.task_id) is not task:
                return False
            del self.tasks[task.task_id]
            self.taken[task.task_id] = self.now() + NAME_KEPT
            return True

    def next_attempt(self, failures: int, first_attempt: float) -> float | None:
        """When the task is tried again after its `failures`-th failed attempt (seconds on
        the queue's clock), or None when the policy gives it up."""
        now = self.now()
        if self.policy.exhausted(failures, first_attempt, now):
            return None
        return now + self.policy.retry_delay(failures)

    # -- the TaskQueue port ---------------------------------------------------------------

    def enqueue(self, task: StepTask) -> None:
        if self.failure:
            raise self.failure
        if not self.create(task):
            return  # ALREADY_EXISTS: a success
        if self.failure_after_create:
            raise self.failure_after_create

    def delete(self, task: StepTask) -> bool:
        if self.failure:
            raise self.failure
        with self._lock:
            if self.tasks.pop(task.task_id, None) is None:
                return False
            self.taken[task.task_id] = self.now() + NAME_KEPT
            return True

    def waiting(self, task: StepTask) -> bool:
        if self.failure:
            raise self.failure
        with self._lock:
            return task.task_id in self.tasks

    def info(self) -> QueueInfo:
        self.info_calls += 1
        if self.failure:
            raise self.failure
        return QueueInfo(self.name, self.state)

    def pause(self) -> QueueInfo:
        if self.failure:
            raise self.failure
        self.state = QueueState.PAUSED
        return QueueInfo(self.name, self.state)

    def resume(self) -> QueueInfo:
        if self.failure:
            raise self.failure
        self.state = QueueState.RUNNING
        return QueueInfo(self.name, self.state)

    def take(self) -> list[StepTask]:
        """Every waiting task, delivered: each leaves the queue, its name stays taken."""
        with self._lock:
            tasks = list(self.tasks.values())
        for task in tasks:
            self.settle(task)
        return tasks
