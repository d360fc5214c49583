"""Dispatch of due tasks over HTTP: one asyncio loop in a thread of its own.

No task is rescanned on a tick. Each queue keeps an in-memory heap of (due time, generation,
task name), loaded from SQLite at start and fed by the API; the loop sleeps until the
earliest due time of a running queue, or until woken (a new task, a resume, a RunTask, a
finished dispatch). A heap entry is current only while its generation is the task's current
one, so deletes, purges and RunTask simply make entries stale.

Per queue: at most `max_concurrent_dispatches` in flight, and a token bucket of
`max_burst_size` tokens refilled at `max_dispatches_per_second` (token_bucket.py). Each
attempt sends the request of outgoing_request.py through the clients of client_pool.py. A
failed attempt (non-2xx, no connection, `dispatch_deadline` passed) is retried after the
queue's backoff (or the response's Retry-After, when longer) until the retry config says
stop (retry_policy.py); then the task is dropped and logged. The API thread calls the public
methods; they post to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import httpx
from google.cloud import tasks_v2
from google.rpc import code_pb2, status_pb2

from devtools.cloud_tasks_server import names
from devtools.cloud_tasks_server.client_pool import ClientPool
from devtools.cloud_tasks_server.oidc import Signer
from devtools.cloud_tasks_server.outgoing_request import build_request
from devtools.cloud_tasks_server.protobuf_time import to_seconds
from devtools.cloud_tasks_server.retry_policy import DEFAULT_RETRY, RetryPolicy, parse_retry_after
from devtools.cloud_tasks_server.state import (
    QueueMessage,
    QueuePb,
    TaskDatabase,
    TaskMessage,
)
from devtools.cloud_tasks_server.token_bucket import TokenBucket

log = logging.getLogger("cloud_tasks_server.dispatch")

RUNNING = tasks_v2.Queue.State.RUNNING
PRUNE_EVERY = 600.0
_ERROR_CODES = {"DEADLINE_EXCEEDED": code_pb2.DEADLINE_EXCEEDED, "INTERNAL": code_pb2.INTERNAL}
# Set by the dispatcher's loop to the task once its attempt is counted (None: gone or running).
Done: TypeAlias = concurrent.futures.Future[TaskMessage | None]
RETRY_BROKEN = 10.0  # seconds before a dispatch that broke in this server is tried again


def http_status_to_code(status: int) -> int:
    """The google.rpc code Cloud Tasks records for an HTTP response status."""
    if 200 <= status < 300:
        return int(code_pb2.OK)  # google.rpc has no types: its codes are ints
    codes: dict[int, int] = {
        400: code_pb2.INVALID_ARGUMENT,
        401: code_pb2.UNAUTHENTICATED,
        403: code_pb2.PERMISSION_DENIED,
        404: code_pb2.NOT_FOUND,
        409: code_pb2.ABORTED,
        429: code_pb2.RESOURCE_EXHAUSTED,
        499: code_pb2.CANCELLED,
        500: code_pb2.INTERNAL,
        501: code_pb2.UNIMPLEMENTED,
        503: code_pb2.UNAVAILABLE,
        504: code_pb2.DEADLINE_EXCEEDED,
    }
    otherwise: int = code_pb2.FAILED_PRECONDITION if status < 500 else code_pb2.UNKNOWN
    return codes.get(status, otherwise)


def failure_status(http_status: int | None, error: str) -> tuple[status_pb2.Status, str]:
    """The response_status recorded for a failed attempt, and its X-CloudTasks-TaskRetryReason:
    from the HTTP status, else from the error (e.g. DEADLINE_EXCEEDED, UNAVAILABLE:...)."""
    if http_status is None:
        code = _ERROR_CODES.get(error.split(":", 1)[0], code_pb2.UNAVAILABLE)
        return status_pb2.Status(code=code, message=error), error
    code = http_status_to_code(http_status)
    message = f"HTTP status {http_status}"
    return status_pb2.Status(code=code, message=message), f"HTTP {http_status}"


@dataclass
class QueueRuntime:
    """What the loop keeps of a queue: its settings, its heap of due tasks, its token bucket
    and the count of its dispatches in flight."""

    name: str
    state: int = RUNNING
    max_concurrent: int = 1000
    retry: RetryPolicy = DEFAULT_RETRY
    heap: list[tuple[float, int, str]] = field(default_factory=list)
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(500.0, 100))
    inflight: int = 0
    http_target: object | None = None  # the queue's HttpTarget overrides, when set

    def configure(self, queue: QueueMessage) -> None:
        """Take a queue's (new) settings; a change of rate or burst makes a new, full bucket."""
        rate = queue.rate_limits.max_dispatches_per_second
        burst = max(1, queue.rate_limits.max_burst_size)
        if (self.bucket.rate, self.bucket.burst) != (rate, burst):
            self.bucket = TokenBucket(rate, burst)
        self.state = queue.state
        self.max_concurrent = max(1, queue.rate_limits.max_concurrent_dispatches)
        self.retry = RetryPolicy.from_pb(queue.retry_config)
        self.http_target = queue.http_target if queue.HasField("http_target") else None


class Dispatcher:
    def __init__(
        self, database: TaskDatabase, signer: Signer, warmup_url: str | None = None
    ) -> None:
        self._database = database
        self._warmup_url = warmup_url
        self._signer = signer
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._queues: dict[str, QueueRuntime] = {}
        self._gen: dict[str, int] = {}  # task name -> generation of its current heap entry
        self._counter = itertools.count()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._next_at: float | None = None
        self._next_prune = 0.0
        self._stopping = False
        self._started = threading.Event()
        self._wake: asyncio.Event | None = None
        self._clients = ClientPool()

    # -- called from other threads --------------------------------------------------------

    def start(self) -> None:
        """Load queues and pending tasks from the database, then start the loop thread."""
        for queue in self._database.all_queues():
            self._queue_changed(queue)
        for queue, name, schedule in self._database.pending():
            self._push(queue, name, schedule)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the dispatcher did not start")

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel in-flight dispatches (their tasks stay pending) and stop the loop."""
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._request_stop)
        self._thread.join(timeout)

    def queue_changed(self, queue: QueueMessage) -> None:
        copy = QueuePb()
        copy.CopyFrom(queue)
        self._post(self._queue_changed, copy)

    def queue_removed(self, name: str) -> None:
        self._post(self._queue_cleared, name, True)

    def queue_purged(self, name: str) -> None:
        self._post(self._queue_cleared, name, False)

    def task_added(self, queue: str, name: str, due: float) -> None:
        self._post(self._push, queue, name, due)

    def task_removed(self, name: str) -> None:
        self._post(self._forget, name)

    def run_now(self, name: str, timeout: float = 10.0) -> TaskMessage | None:
        """Dispatch the task now, whatever its queue's state and limits (RunTask).

        Returns the task once the attempt is counted; None if it was gone or already running.
        """
        done: Done = concurrent.futures.Future()
        self._post(self._run_now, name, done)
        return done.result(timeout)

    def _post(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            self._loop.call_soon_threadsafe(fn, *args)

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        if self._warmup_url:
            await self._warm_up(self._warmup_url)
        self._started.set()
        try:
            while not self._stopping:
                self._wake.clear()
                next_at = self._pump()
                now = time.time()
                if now >= self._next_prune:
                    self._prune(now)
                next_at = self._next_prune if next_at is None else min(next_at, self._next_prune)
                self._next_at = next_at
                delay = next_at - time.time()
                if delay <= 0:
                    await asyncio.sleep(0)
                    continue
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            running = list(self._inflight.values())
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await self._clients.aclose()

    async def _warm_up(self, url: str) -> None:
        """One request before the first task: httpx and anyio import and set up what they
        need on first use (~0.1 s), which would otherwise delay the first dispatch."""
        slot = self._clients.acquire()
        try:
            async with asyncio.timeout(2.0):
                await self._clients.client(slot).get(url)
        except Exception:  # noqa: BLE001 - only an optimisation
            log.debug("warm-up request to %s failed", url, exc_info=True)
        finally:
            self._clients.release(slot)

    def _request_stop(self) -> None:
        self._stopping = True
        if self._wake:
            self._wake.set()

    def _wakeup(self, due: float | None = None) -> None:
        if self._wake is None:
            return
        if due is None or self._next_at is None or due < self._next_at:
            self._wake.set()

    def _prune(self, now: float) -> None:
        self._next_prune = now + PRUNE_EVERY
        try:
            self._database.prune_reservations(now)
        except Exception:  # noqa: BLE001 - pruning is best effort
            log.exception("pruning reserved names failed")

    def _pump(self) -> float | None:
        """Start every due dispatch the limits allow; the wall time to look again, if any."""
        now = time.time()
        next_at: float | None = None
        for queue in self._queues.values():
            heap = queue.heap
            if not heap or queue.state != RUNNING:
                continue
            while heap:
                due, gen, name = heap[0]
                if self._gen.get(name) != gen:
                    heapq.heappop(heap)
                    continue
                if due > now:
                    next_at = due if next_at is None else min(next_at, due)
                    break
                if queue.inflight >= queue.max_concurrent:
                    break  # a finished dispatch wakes the loop
                wait = queue.bucket.take()
                if wait > 0:
                    at = now + wait
                    next_at = at if next_at is None else min(next_at, at)
                    break
                heapq.heappop(heap)
                del self._gen[name]
                self._start(queue, name)
        return next_at

    def _queue_changed(self, queue: QueueMessage) -> None:
        runtime = self._queues.get(queue.name)
        if runtime is None:
            runtime = self._queues[queue.name] = QueueRuntime(queue.name)
        runtime.configure(queue)
        self._wakeup()

    def _queue_cleared(self, name: str, remove: bool) -> None:
        runtime = self._queues.get(name)
        if runtime is None:
            return
        for _due, gen, task in runtime.heap:
            if self._gen.get(task) == gen:
                del self._gen[task]
        runtime.heap.clear()
        if remove:
            del self._queues[name]

    def _push(self, queue: str, name: str, due: float) -> None:
        runtime = self._queues.get(queue)
        if runtime is None:
            return
        gen = next(self._counter)
        self._gen[name] = gen
        heapq.heappush(runtime.heap, (due, gen, name))
        if runtime.state == RUNNING:
            self._wakeup(due)

    def _forget(self, name: str) -> None:
        self._gen.pop(name, None)

    def _run_now(self, name: str, done: Done) -> None:
        runtime = self._queues.get(names.queue_of(name))
        if runtime is None or name in self._inflight or self._stopping:
            done.set_result(None)
            return
        self._gen.pop(name, None)
        self._start(runtime, name, done)

    def _start(
        self,
        queue: QueueRuntime,
        name: str,
        done: Done | None = None,
    ) -> None:
        queue.inflight += 1
        self._inflight[name] = self._loop.create_task(self._attempt(queue, name, done))

    async def _attempt(
        self,
        queue: QueueRuntime,
        name: str,
        done: Done | None,
    ) -> None:
        try:
            await self._dispatch(queue, name, done)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the loop alive; the task stays pending
            log.exception("dispatch of %s failed; trying again in %.0f s", name, RETRY_BROKEN)
            self._push(queue.name, name, time.time() + RETRY_BROKEN)
        finally:
            if done and not done.done():
                done.set_result(None)
            queue.inflight -= 1
            self._inflight.pop(name, None)
            if self._wake:
                self._wake.set()

    async def _dispatch(
        self,
        queue: QueueRuntime,
        name: str,
        done: Done | None,
    ) -> None:
        dispatched = time.time()
        begun = self._database.begin_attempt(name, dispatched)
        if done:
            done.set_result(begun and begun[1])
        if begun is None:
            return
        row = begun[0]
        task = row.task
        attempt = task.dispatch_count + 1
        first_attempt = (
            to_seconds(task.first_attempt.dispatch_time) if task.dispatch_count else dispatched
        )
        deadline = to_seconds(task.dispatch_deadline) or 600.0
        method, url, headers, body = build_request(row, queue.http_target, self._signer)
        started = time.monotonic()
        http_status: int | None = None
        retry_after: float | None = None
        error = ""
        slot = self._clients.acquire()
        try:
            async with asyncio.timeout(deadline):
                response = await self._clients.client(slot).request(
                    method, url, headers=headers, content=body
                )
            http_status = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        except TimeoutError:
            error = "DEADLINE_EXCEEDED"
        except httpx.ConnectError:
            error = "UNAVAILABLE:connection_refused"
        except httpx.HTTPError as exc:
            error = f"UNAVAILABLE:{type(exc).__name__}"
        except Exception as exc:  # noqa: BLE001 - e.g. a URL httpx will not send: an attempt
            error = f"INTERNAL:{type(exc).__name__}"
        finally:
            self._clients.release(slot)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        ids = (names.short_id(name), names.short_id(row.queue), attempt)
        outcome = http_status if http_status is not None else error
        log.info("dispatch task=%s queue=%s attempt=%d status=%s ms=%d", *ids, outcome, elapsed_ms)
        now = time.time()
        if http_status is not None and 200 <= http_status < 300:
            self._database.finish(name, row.version, now)
            return
        policy = queue.retry
        if task.HasField("retry_config"):
            policy = RetryPolicy.from_pb(task.retry_config, queue.retry)
        if policy.exhausted(attempt, first_attempt, now):
            if self._database.finish(name, row.version, now):
                log.warning(
                    "drop task=%s queue=%s attempts=%d last_status=%s: retries exhausted",
                    *ids,
                    outcome,
                )
            return
        status, reason = failure_status(http_status, error)
        next_schedule = now + policy.retry_delay(attempt, retry_after)
        if self._database.record_failure(
            name,
            row.version,
            now=now,
            next_schedule=next_schedule,
            http_status=http_status,
            status=status,
            reason=reason,
        ):
            self._push(row.queue, name, next_schedule)
