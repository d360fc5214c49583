"""In-memory fakes of the queue, generator and media ports, for the fast unit tests."""

from __future__ import annotations

import itertools
import threading
from collections import deque

from shared.domain.errors import GenerationError, QueueError, StorageError
from shared.domain.steps import StepTask
from shared.ports import Media, OperationStatus, QueueInfo, QueueState, VideoSpec


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


class FakeVideos:
    """Operations that answer a scripted list of poll results, then the last one forever."""

    def __init__(self) -> None:
        self.started: list[VideoSpec] = []
        self.script: list[OperationStatus | GenerationError] = [
            OperationStatus(done=True, media=Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4", "mp4"))
        ]
        self.start_error: GenerationError | None = None
        self._polls: dict[str, deque] = {}
        self._ids = itertools.count(1)

    def start(self, spec: VideoSpec) -> str:
        if self.start_error:
            raise self.start_error
        self.started.append(spec)
        name = f"operations/{next(self._ids)}"
        self._polls[name] = deque(self.script)
        return name

    def poll(self, operation_name: str) -> OperationStatus:
        answers = self._polls[operation_name]
        answer = answers.popleft() if len(answers) > 1 else answers[0]
        if isinstance(answer, GenerationError):
            raise answer
        return answer


class FakeImages:
    """Answers a PNG-ish Media, or raises the error set in `failure`."""

    def __init__(self) -> None:
        self.prompts: list[tuple[str, str]] = []
        self.failure: GenerationError | None = None

    def generate(self, prompt: str, aspect_ratio: str = "1:1") -> Media:
        self.prompts.append((prompt, aspect_ratio))
        if self.failure:
            raise self.failure
        return Media(b"\x89PNG\r\n\x1a\n fake", "image/png", "png")


class FakeMedia:
    """Objects in a dict, served (in tests) at `BASE_URL/<quoted key>`; `failing` makes put and
    ping raise StorageError (url makes no call, so it still answers, as R2's does)."""

    BASE_URL = "https://media.test"

    def __init__(self) -> None:
        self.objects: dict[str, Media] = {}
        self.failing = False

    def put(self, key: str, media: Media) -> None:
        from shared.domain.media_keys import check_key

        check_key(key)
        if self.failing:
            raise StorageError("storage is down")
        self.objects[key] = media

    def url(self, key: str) -> str:
        from shared.domain.media_keys import quote_key

        return f"{self.BASE_URL}/{quote_key(key)}"

    def get(self, url: str) -> Media | None:
        """What a GET of `url` would serve, or None (a 404)."""
        from urllib.parse import unquote

        prefix = f"{self.BASE_URL}/"
        if not url.startswith(prefix):
            return None
        return self.objects.get(unquote(url.removeprefix(prefix)))

    def ping(self) -> None:
        if self.failing:
            raise StorageError("storage is down")
