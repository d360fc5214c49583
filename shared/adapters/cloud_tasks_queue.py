"""The task queue on Cloud Tasks, through google-cloud-tasks.

The same adapter talks to the real service and, locally, to devtools/cloud_tasks_server
(CLOUD_TASKS_EMULATOR_HOST switches the channel). Every failure leaves this module as a
QueueError with a stable code; no SDK exception escapes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import grpc
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as gauth
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from shared import events
from shared.adapters.lazy import Lazy
from shared.domain.errors import QueueError
from shared.domain.step_tasks import Step, StepTask
from shared.ports import QueueInfo, QueueState

# Most specific first: NotFound is a ClientError, ServiceUnavailable a ServerError.
_CODES: tuple[tuple[type[gexc.GoogleAPICallError], str], ...] = (
    (gexc.ServiceUnavailable, "queue_unavailable"),
    (gexc.DeadlineExceeded, "queue_deadline_exceeded"),
    (gexc.NotFound, "queue_not_found"),
    (gexc.PermissionDenied, "queue_permission_denied"),
    (gexc.Unauthenticated, "queue_unauthenticated"),
    (gexc.ResourceExhausted, "queue_rate_limited"),
    (gexc.FailedPrecondition, "queue_failed_precondition"),
    (gexc.InvalidArgument, "queue_invalid_request"),
    (gexc.InternalServerError, "queue_internal_error"),
    # A call cut off on its way (UNKNOWN "Stream removed", CANCELLED by a closing channel,
    # ABORTED, a proxy's 502/504): the service was not reached, or may have been.
    (gexc.Unknown, "queue_unavailable"),
    (gexc.Cancelled, "queue_unavailable"),
    (gexc.Aborted, "queue_unavailable"),
    (gexc.BadGateway, "queue_unavailable"),
    (gexc.GatewayTimeout, "queue_deadline_exceeded"),
)
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.Unknown,
    gexc.Aborted,
    gexc.BadGateway,
    gexc.GatewayTimeout,
)
_STATES = {
    tasks_v2.Queue.State.RUNNING: QueueState.RUNNING,
    tasks_v2.Queue.State.PAUSED: QueueState.PAUSED,
    tasks_v2.Queue.State.DISABLED: QueueState.DISABLED,
}
CLOSED_CHANNEL = "closed channel"  # grpc's ValueError: "Cannot invoke RPC on closed channel!"
# The call metadata that names the caller to the local Cloud Tasks server (its
# devtools/cloud_tasks_server/iam.py PRINCIPAL_METADATA); never sent to the real service.
LOCAL_PRINCIPAL_METADATA = "x-cloud-tasks-local-principal"
T = TypeVar("T")
_LACKS = re.compile(r'lacks IAM permission "([a-zA-Z.]+)"')


def queue_error(exc: BaseException) -> QueueError:
    """Reduce any failure of a call to one QueueError with a stable code."""
    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, grpc.RpcError) and not isinstance(exc, gexc.GoogleAPICallError):
        # a gRPC error raised outside api_core's wrapping
        exc = gexc.from_grpc_error(exc)  # type: ignore[no-untyped-call]
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return QueueError(code, str(exc.message)[:200])
    if isinstance(exc, gexc.RetryError):
        return QueueError("queue_deadline_exceeded", "retry budget spent")
    name = type(exc).__name__
    if isinstance(exc, (grpc.FutureTimeoutError, TimeoutError, gauth.TimeoutError)):
        return QueueError("queue_deadline_exceeded", name)
    if isinstance(exc, gauth.TransportError):  # no token: the token server is unreachable
        return QueueError("queue_unavailable", name)
    if isinstance(exc, gauth.RefreshError):
        if getattr(exc, "retryable", False) or isinstance(exc.__cause__, gauth.TransportError):
            return QueueError("queue_unavailable", name)
        return QueueError("queue_unauthenticated", name)
    if isinstance(exc, OSError):  # ConnectionError, a socket or DNS failure
        return QueueError("queue_unavailable", name)
    if isinstance(exc, ValueError) and CLOSED_CHANNEL in str(exc):
        return QueueError("queue_unavailable", name)
    return QueueError("queue_error", name)


def _permission_of(exc: BaseException, default: str) -> str:
    """The permission a PERMISSION_DENIED names (Cloud Tasks says which), else the one the
    call needs."""
    found = _LACKS.search(str(getattr(exc, "message", exc)))
    return found.group(1) if found else default


class CloudTasksQueue:
    """Named HTTP tasks to the worker, with an OIDC token, a bounded retry and budget.

    `create_task` has no retry by default; here transient errors are retried with a short
    backoff inside `budget_seconds` (total), so a caller waiting on an outage gets its answer
    in well under two seconds. Retrying is safe because the task is named: a retry of a call
    that did reach the service answers AlreadyExists, which counts as success.
    """

    def __init__(
        self,
        client_factory: Callable[[], tasks_v2.CloudTasksClient],
        *,
        queue_path: str,
        target_url: str,
        service_account: str | None,
        audience: str | None,
        dispatch_deadline_seconds: int,
        budget_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        start_queue_path: str | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._client = Lazy(client_factory)
        self.queue_path = queue_path
        # Start steps go to their own queue, paced by Cloud Tasks (terraform/queue.tf); None:
        # they share the video queue.
        self.start_queue_path = start_queue_path
        self._target_url = target_url
        self._service_account = service_account
        self._audience = audience
        self._dispatch_deadline = dispatch_deadline_seconds
        self._budget = budget_seconds
        self._clock = clock
        self._retry = gretry.Retry(
            predicate=gretry.if_exception_type(*_TRANSIENT),
            initial=0.05,
            maximum=0.25,
            multiplier=2.0,
            timeout=budget_seconds,
        )

    @property
    def client(self) -> tasks_v2.CloudTasksClient:
        return self._client.get()

    def build_task(self, step: StepTask) -> tasks_v2.Task:
        http_request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=self._target_url,
            headers={"Content-Type": "application/json"},
            body=json.dumps(step.payload(), separators=(",", ":")).encode(),
        )
        if self._service_account:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self._service_account,
                audience=self._audience or self._target_url,
            )
        task = tasks_v2.Task(
            name=self._task_name(step),
            http_request=http_request,
            dispatch_deadline=duration_pb2.Duration(seconds=self._dispatch_deadline),
        )
        if step.delay_seconds > 0:
            eta = timestamp_pb2.Timestamp()
            eta.FromDatetime(self._clock() + timedelta(seconds=step.delay_seconds))
            task.schedule_time = eta
        return task

    def enqueue(self, task: StepTask) -> None:
        request = tasks_v2.CreateTaskRequest(parent=self.queue_of(task), task=self.build_task(task))
        # AlreadyExists: the same step was enqueued before: that is the de-duplication at work
        self._task_call(
            "CreateTask",
            "cloudtasks.tasks.create",
            lambda client: client.create_task(
                request=request, retry=self._retry, timeout=self._budget
            ),
            gexc.AlreadyExists,
        )

    def delete(self, task: StepTask) -> bool:
        name = self._task_name(task)
        return self._task_call(
            "DeleteTask",
            "cloudtasks.tasks.delete",
            lambda client: client.delete_task(name=name, retry=self._retry, timeout=self._budget),
            gexc.NotFound,
        )

    def waiting(self, task: StepTask) -> bool:
        name = self._task_name(task)
        return self._task_call(
            "GetTask",
            "cloudtasks.tasks.get",
            lambda client: client.get_task(name=name, retry=self._retry, timeout=self._budget),
            gexc.NotFound,
        )

    def _task_call(
        self,
        rpc: str,
        permission: str,
        call: Callable[[Any], object],
        answer: type[gexc.GoogleAPICallError],
    ) -> bool:
        """One call on a task: True when it went through, False when the service answered
        `answer` (AlreadyExists, NotFound), which the caller reads as an answer, not a
        failure; any other answer is raised."""
        try:
            self._call(rpc, permission, call)
        except _Answered as answered:
            if not isinstance(answered.exc, answer):
                raise
            return False
        return True

    def queue_of(self, task: StepTask) -> str:
        """The queue a step goes to: a start to the start queue when there is one."""
        if task.step is Step.START and self.start_queue_path:
            return self.start_queue_path
        return self.queue_path

    def _task_name(self, task: StepTask) -> str:
        return f"{self.queue_of(task)}/tasks/{task.task_id}"

    def info(self) -> QueueInfo:
        return self._queue_call("GetQueue", "cloudtasks.queues.get", "get_queue")

    def pause(self) -> QueueInfo:
        """Pause both queues (the start queue first: no start runs while polls are held)."""
        if self.start_queue_path:
            self._queue_call(
                "PauseQueue", "cloudtasks.queues.pause", "pause_queue", self.start_queue_path
            )
        return self._queue_call("PauseQueue", "cloudtasks.queues.pause", "pause_queue")

    def resume(self) -> QueueInfo:
        info = self._queue_call("ResumeQueue", "cloudtasks.queues.resume", "resume_queue")
        if self.start_queue_path:
            self._queue_call(
                "ResumeQueue", "cloudtasks.queues.resume", "resume_queue", self.start_queue_path
            )
        return info

    def _queue_call(
        self, rpc: str, permission: str, method: str, path: str | None = None
    ) -> QueueInfo:
        name = path or self.queue_path
        queue: tasks_v2.Queue = self._call(
            rpc,
            permission,
            lambda client: getattr(client, method)(
                name=name, retry=self._retry, timeout=self._budget
            ),
        )
        state = _STATES.get(queue.state)
        if state is None:
            raise QueueError("queue_state_unknown", f"state {queue.state}")
        return QueueInfo(name=queue.name, state=state)

    def _call(self, rpc: str, permission: str, call: Callable[[Any], T]) -> T:
        """Make one call; AlreadyExists and NotFound come back as _Answered (the caller
        decides), every other failure as a QueueError, logged when it says something the
        code alone does not: the permission that is missing, or the exception's type."""
        try:
            return call(self.client)
        except (gexc.AlreadyExists, gexc.NotFound) as exc:
            if isinstance(exc, gexc.AlreadyExists) or rpc in ("DeleteTask", "GetTask"):
                raise _Answered(exc) from exc
            raise queue_error(exc) from exc
        except Exception as exc:  # noqa: BLE001 - every failure becomes a QueueError
            error = queue_error(exc)
            self._report(rpc, permission, exc, error)
            raise error from exc

    def _report(self, rpc: str, permission: str, exc: Exception, error: QueueError) -> None:
        cause = exc.cause if isinstance(exc, gexc.RetryError) and exc.cause else exc
        if error.code == "queue_permission_denied":
            events.emit(
                "queue.permission_denied",
                logging.ERROR,
                rpc=rpc,
                permission=_permission_of(cause, permission),
                queue=self.queue_path,
            )
        elif not isinstance(cause, gexc.GoogleAPICallError):
            # Not a status of the service: say what was raised, which the code alone hides.
            events.emit(
                "queue.call_failed",
                logging.ERROR if error.code == "queue_error" else logging.WARNING,
                rpc=rpc,
                queueErrorCode=error.code,
                errorType=f"{type(cause).__module__}.{type(cause).__qualname__}",
            )
            if isinstance(cause, ValueError) and CLOSED_CHANNEL in str(cause):
                self._client = Lazy(self._client_factory)  # the next call opens a new one


class _Answered(Exception):  # noqa: N818 - not an error: an answer the caller interprets
    def __init__(self, exc: gexc.GoogleAPICallError) -> None:
        super().__init__(str(exc))
        self.exc = exc


class _PrincipalMetadata(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds the local server's principal metadata to every call of the channel."""

    def __init__(self, principal: str) -> None:
        self._principal = principal

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        metadata = (
            *(client_call_details.metadata or ()),
            (LOCAL_PRINCIPAL_METADATA, self._principal),
        )
        details = _CallDetails(
            client_call_details.method,
            client_call_details.timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
            client_call_details.compression,
        )
        return continuation(details, request)


class _CallDetails(NamedTuple):
    """grpc.ClientCallDetails with the metadata added (grpc reads the attributes)."""

    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str], ...]
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


def local_client(host: str, principal: str | None = None) -> tasks_v2.CloudTasksClient:
    """A real client on an insecure channel to the local Cloud Tasks server.

    `principal`: the service account this process runs as in production
    (CLOUD_TASKS_EMULATOR_IDENTITY); each call names it, as the real client's OAuth token
    does, so the server grants exactly that account's permissions. None: the local
    operator, who may do everything.

    The reconnect backoff is kept short so that a restarted server is reached again
    within a second, instead of gRPC's default of up to two minutes.
    """
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(
        host,
        options=[
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ],
    )
    if principal:
        channel = grpc.intercept_channel(channel, _PrincipalMetadata(principal))
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
