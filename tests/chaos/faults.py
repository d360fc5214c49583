"""A seeded fault plan, and the ports that fail on purpose.

Every fault is drawn from one `random.Random(seed)` in a single thread, so a run replays
exactly from its seed. Each wrapper keeps the contract of the port it wraps and fails the
ways the real system can:

- store: a call fails before it applies (StoreUnavailable, StoreContention); it applies and
  the answer is lost (StoreUnavailable after the commit); it gives up at its deadline and
  commits later all the same (a late commit, as the Firestore adapter allows for); another
  process's step runs between two calls (an interleaving);
- any write (store, queue, generator start, upload) may be the last thing the process does:
  `WorkerDied` (a BaseException, so no service can catch it) stands for SIGKILL;
- generator: start refused, failing before or after it created the operation, hanging (the
  clock moves on while it waits), polls failing, operations lost, filtered, failed, never
  finishing or finishing after the deadline; images the same within their request;
- media: uploads failing before or after they stored the object.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from shared.domain.errors import (
    DomainError,
    GenerationError,
    StorageError,
    StoreContention,
    StoreUnavailable,
)
from shared.ports import Media, OperationStatus, VideoRoute, VideoSpec

if TYPE_CHECKING:
    from tests.chaos.world import World


class WorkerDied(BaseException):  # noqa: N818 - a process death, not an error to handle
    """The process was killed here: nothing after this point runs."""


@dataclass
class Rates:
    """The probability of each fault at each chance it has (per call, per delivery...)."""

    store_fails_before: float = 0.02
    store_contention: float = 0.01
    store_answer_lost: float = 0.01  # the commit applied, the caller sees StoreUnavailable
    store_late_commit: float = 0.004  # the caller gave up; the transaction commits later
    interleave: float = 0.03  # another delivery or a sweep runs between two store calls
    process_dies: float = 0.006  # after any write
    queue_fails_before: float = 0.02
    queue_fails_after_create: float = 0.015
    queue_info_fails: float = 0.01
    queue_paused: float = 0.003
    task_duplicate: float = 0.03
    task_late: float = 0.03
    task_lost: float = 0.003
    clock_skew: float = 0.01  # one request or step runs on a clock ahead (or behind)
    clock_jump: float = 0.002  # between requests: minutes pass with nothing running at all
    video_start_refused: float = 0.01  # permanent
    video_start_not_started: float = 0.03  # transient, certainly nothing started
    video_start_maybe_started: float = 0.02  # transient after the operation exists
    video_hangs: float = 0.01
    video_poll_fails: float = 0.03
    video_operation_lost: float = 0.002
    video_filtered: float = 0.04
    video_failed: float = 0.04
    video_never_done: float = 0.01
    video_after_deadline: float = 0.02
    image_fails_transient: float = 0.03
    image_filtered: float = 0.03
    image_failed: float = 0.02
    image_hangs: float = 0.01
    upload_fails_before: float = 0.02
    upload_fails_after: float = 0.01

    def scaled(self, factor: float) -> Rates:
        return Rates(**{f.name: min(1.0, getattr(self, f.name) * factor) for f in fields(self)})


class FaultPlan:
    """Draws faults from the seed, counts them and notes them in the creations' traces."""

    def __init__(self, seed: int, rates: Rates | None = None) -> None:
        self.rng = random.Random(seed)
        self.rates = rates or Rates()
        self.enabled = True
        self.injected: Counter = Counter()
        self.world: World | None = None  # set by the world, for the traces

    def hit(self, kind: str) -> bool:
        if not self.enabled:
            return False
        if self.rng.random() >= getattr(self.rates, kind):
            return False
        self.injected[kind] += 1
        if self.world is not None:
            self.world.note(f"fault {kind}")
        return True

    def die_after(self, what: str) -> None:
        if self.hit("process_dies"):
            if self.world is not None:
                self.world.note(f"process killed after {what}")
            raise WorkerDied(what)


_STORE_READS = frozenset(
    {
        "get_account",
        "get_creation",
        "ledger",
        "creations",
        "stale_creations",
        "users_in_flight",
        "ping",
    }
)


class ChaosStore:
    """Any Store, failing on purpose. Public methods not listed as reads are writes (one
    transaction each): they can fail before, fail after applying, commit late, and be the
    last thing the process does. New methods of the port are covered without a change."""

    def __init__(self, inner: Any, plan: FaultPlan, world: World) -> None:
        self.inner = inner
        self.plan = plan
        self.world = world

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        return self._read(name, attr) if name in _STORE_READS else self._write(name, attr)

    def _read(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.world.maybe_interleave()
            if self.plan.hit("store_fails_before"):
                raise StoreUnavailable(f"injected: {name} failed")
            return method(*args, **kwargs)

        return call

    def _write(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        plan = self.plan

        def call(*args: Any, **kwargs: Any) -> Any:
            self.world.maybe_interleave()
            if plan.hit("store_fails_before"):
                raise StoreUnavailable(f"injected: {name} failed before it applied")
            if plan.hit("store_contention"):
                raise StoreContention(f"injected: {name} aborted")
            if plan.hit("store_late_commit"):
                delay = plan.rng.uniform(0.05, 5.0)
                self.world.later(delay, lambda: _quietly(method, args, kwargs), f"late {name}")
                raise StoreUnavailable(f"injected: {name} past its deadline (commits later)")
            result = method(*args, **kwargs)
            if plan.hit("store_answer_lost"):
                raise StoreUnavailable(f"injected: {name} applied, its answer lost")
            plan.die_after(f"store.{name}")
            return result

        return call


def _quietly(method: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """A late commit: it applies or refuses by itself; nobody waits for its answer."""
    with contextlib.suppress(DomainError):
        method(*args, **kwargs)


@dataclass
class Operation:
    creation_id: str | None
    started_at: float  # world seconds
    done_at: float  # inf: never
    outcome: str  # video | filtered | failed
    route: VideoRoute | None = None  # the model and location it ran on (failover)


VIDEO = Media(b"\x00\x00\x00\x18ftypmp42 chaos", "video/mp4", "mp4")
IMAGE = Media(b"\x89PNG\r\n\x1a\n chaos", "image/png", "png")


class ChaosVideos:
    """A Veo-like generator: operations by name, outcomes drawn at start, faults on every
    call. `starts` counts the operations created per creation (the invariant: at most 1)."""

    def __init__(self, plan: FaultPlan, world: World) -> None:
        self.plan = plan
        self.world = world
        self.operations: dict[str, Operation] = {}
        self.starts: Counter = Counter()
        self.tried: Counter = Counter()  # starts tried, by route (failover)

    def start(self, spec: VideoSpec, route: VideoRoute | None = None) -> str:
        plan, world = self.plan, self.world
        world.maybe_interleave()
        self.tried[route] += 1
        if plan.hit("video_start_refused"):
            raise GenerationError("generation_rejected", "injected refusal", transient=False)
        if plan.hit("video_start_not_started"):
            raise GenerationError(
                "generator_rate_limited", "injected 429", transient=True, not_started=True
            )
        hangs = plan.hit("video_hangs")
        if hangs:
            world.advance(plan.rng.uniform(60, 150))  # the request waited this long
        name = self._create(world.current_creation, route)
        plan.die_after("videos.start")
        if plan.hit("video_start_maybe_started") or (hangs and plan.rng.random() < 0.5):
            raise GenerationError("generator_unavailable", "injected timeout", transient=True)
        return name

    def _create(self, creation_id: str | None, route: VideoRoute | None = None) -> str:
        plan, now = self.plan, self.world.seconds
        name = f"operations/{len(self.operations) + 1}"
        outcome, done_at = "video", now + plan.rng.uniform(20, 240)
        if plan.hit("video_filtered"):
            outcome = "filtered"
        elif plan.hit("video_failed"):
            outcome = "failed"
        elif plan.hit("video_never_done"):
            done_at = float("inf")
        elif plan.hit("video_after_deadline"):
            done_at = now + plan.rng.uniform(1900, 4000)
        self.operations[name] = Operation(creation_id, now, done_at, outcome, route)
        self.starts[creation_id] += 1
        self.world.note(f"generation started {name}")
        return name

    def poll(self, operation_name: str) -> OperationStatus:
        plan, world = self.plan, self.world
        world.maybe_interleave()
        if plan.hit("video_hangs"):
            world.advance(plan.rng.uniform(30, 90))
            raise GenerationError("generator_unavailable", "injected poll timeout", transient=True)
        if plan.hit("video_poll_fails"):
            raise GenerationError("generator_unavailable", "injected 503", transient=True)
        op = self.operations.get(operation_name)
        if op is None or plan.hit("video_operation_lost"):
            raise GenerationError("operation_not_found", "injected", transient=False)
        now = world.seconds
        if now < op.done_at:
            span = max(1.0, min(op.done_at, now + 600) - op.started_at)
            return OperationStatus(done=False, progress=int(99 * (now - op.started_at) / span))
        if op.outcome == "filtered":
            return OperationStatus(done=True, progress=100, error_code="content_filtered")
        if op.outcome == "failed":
            return OperationStatus(done=True, progress=100, error_code="generation_failed")
        return OperationStatus(done=True, progress=100, media=VIDEO)


class ChaosImages:
    """Synchronous images; `calls` counts generations per creation."""

    def __init__(self, plan: FaultPlan, world: World) -> None:
        self.plan = plan
        self.world = world
        self.calls: Counter = Counter()

    def generate(self, prompt: str, aspect_ratio: str = "1:1") -> Media:
        plan = self.plan
        self.calls[self.world.last_new_id] += 1
        if plan.hit("image_hangs"):
            self.world.advance(plan.rng.uniform(20, 120))
            if plan.rng.random() < 0.5:
                raise GenerationError("generator_unavailable", "injected timeout", transient=True)
        if plan.hit("image_fails_transient"):
            raise GenerationError("generator_unavailable", "injected 503", transient=True)
        if plan.hit("image_filtered"):
            raise GenerationError("content_filtered", "injected", transient=False)
        if plan.hit("image_failed"):
            raise GenerationError("generation_failed", "injected", transient=False)
        return IMAGE


class ChaosMedia:
    """Media storage whose uploads fail before or after they stored the object."""

    def __init__(self, inner: Any, plan: FaultPlan, world: World) -> None:
        self.inner = inner
        self.plan = plan
        self.world = world

    @property
    def objects(self) -> dict[str, Media]:
        return self.inner.objects

    def put(self, key: str, media: Media) -> None:
        if self.plan.hit("upload_fails_before"):
            raise StorageError("injected: upload failed")
        self.inner.put(key, media)
        if self.plan.hit("upload_fails_after"):
            raise StorageError("injected: upload stored, answer lost")
        self.plan.die_after("media.put")

    def url(self, key: str) -> str:
        return self.inner.url(key)

    def ping(self) -> None:
        self.inner.ping()
