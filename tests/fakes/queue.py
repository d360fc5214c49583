"""An in-memory TaskQueue: named tasks kept by id, failures on demand."""

from __future__ import annotations

import threading

from shared.domain.errors import QueueError
from shared.domain.step_tasks import StepTask
from shared.ports import QueueInfo, QueueState


class FakeQueue:
    """Keeps tasks by id; a second task of the same id is dropped, like a named task.

    `failure` makes every call raise before anything happens; `failure_after_create` makes
    `enqueue` create the task and then raise, as a deadline that hits after the service
    created it does.
    """

    def __init__(self, name: str = "projects/p/locations/l/queues/q") -> None:
        self.name = name
        self.state = QueueState.RUNNING
        self.tasks: dict[str, StepTask] = {}
        self.failure: QueueError | None = None
        self.failure_after_create: QueueError | None = None
        self.info_calls = 0
        self._lock = threading.Lock()

    def enqueue(self, task: StepTask) -> None:
        if self.failure:
            raise self.failure
        with self._lock:
            if task.task_id in self.tasks:
                return  # AlreadyExists: a success
            self.tasks[task.task_id] = task
        if self.failure_after_create:
            raise self.failure_after_create

    def delete(self, task: StepTask) -> bool:
        if self.failure:
            raise self.failure
        with self._lock:
            return self.tasks.pop(task.task_id, None) is not None

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
        """Every task enqueued so far, removed from the queue (as if delivered)."""
        with self._lock:
            tasks = list(self.tasks.values())
            self.tasks.clear()
        return tasks
