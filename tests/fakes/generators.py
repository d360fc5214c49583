"""In-memory video and image generators: scripted answers, failures on demand."""

from __future__ import annotations

import itertools
from collections import deque

from shared.domain.errors import GenerationError
from shared.ports import Media, OperationStatus, VideoRoute, VideoSpec


class FakeVideos:
    """Operations that answer a scripted list of poll results, then the last one forever."""

    def __init__(self) -> None:
        self.started: list[VideoSpec] = []
        self.script: list[OperationStatus | GenerationError] = [
            OperationStatus(done=True, media=Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4", "mp4"))
        ]
        self.start_error: GenerationError | None = None
        # Per route (failover): the error a start on that route raises; every start tried.
        self.route_errors: dict[VideoRoute, GenerationError] = {}
        self.tried: list[VideoRoute | None] = []
        self.routes: dict[str, VideoRoute | None] = {}  # operation name: the route it ran on
        self._polls: dict[str, deque[OperationStatus | GenerationError]] = {}
        self._ids = itertools.count(1)

    def start(self, spec: VideoSpec, route: VideoRoute | None = None) -> str:
        self.tried.append(route)
        if self.start_error:
            raise self.start_error
        if route is not None and route in self.route_errors:
            raise self.route_errors[route]
        self.started.append(spec)
        name = f"operations/{next(self._ids)}"
        self.routes[name] = route
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
