"""The task queue on Cloud Tasks, through google-cloud-tasks.

The same adapter talks to the real service and, locally, to devtools/cloud_tasks_server
(CLOUD_TASKS_EMULATOR_HOST switches the channel). Every failure leaves this module as a
QueueError with a stable code; no SDK exception escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from shared.adapters.lazy import Lazy
from shared.domain.errors import QueueError
from shared.domain.step_tasks import StepTask
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
)
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
)
_STATES = {
    tasks_v2.Queue.State.RUNNING: QueueState.RUNNING,
    tasks_v2.Queue.State.PAUSED: QueueState.PAUSED,
    tasks_v2.Queue.State.DISABLED: QueueState.DISABLED,
}


def queue_error(exc: BaseException) -> QueueError:
    """Reduce any failure of a call to one QueueError with a stable code."""
    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        exc = exc.cause
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return QueueError(code, str(exc.message)[:200], retryable=isinstance(exc, _TRANSIENT))
    if isinstance(exc, gexc.RetryError):
        return QueueError("queue_deadline_exceeded", "retry budget spent")
    return QueueError("queue_error", type(exc).__name__)


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
    ) -> None:
        self._client_factory = client_factory
        self._client = Lazy(client_factory)
        self.queue_path = queue_path
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
        request = tasks_v2.CreateTaskRequest(parent=self.queue_path, task=self.build_task(task))
        try:
            self.client.create_task(request=request, retry=self._retry, timeout=self._budget)
        except gexc.AlreadyExists:
            return  # the same step was enqueued before: that is the de-duplication at work
        except Exception as exc:  # noqa: BLE001 - every failure becomes a QueueError
            raise queue_error(exc) from exc

    def delete(self, task: StepTask) -> bool:
        try:
            self.client.delete_task(
                name=self._task_name(task), retry=self._retry, timeout=self._budget
            )
        except gexc.NotFound:
            return False
        except Exception as exc:  # noqa: BLE001 - every failure becomes a QueueError
            raise queue_error(exc) from exc
        return True

    def _task_name(self, task: StepTask) -> str:
        return f"{self.queue_path}/tasks/{task.task_id}"

    def info(self) -> QueueInfo:
        return self._queue_call(self.client.get_queue)

    def pause(self) -> QueueInfo:
        return self._queue_call(self.client.pause_queue)

    def resume(self) -> QueueInfo:
        return self._queue_call(self.client.resume_queue)

    def _queue_call(self, call: Callable[..., tasks_v2.Queue]) -> QueueInfo:
        try:
            queue = call(name=self.queue_path, retry=self._retry, timeout=self._budget)
        except Exception as exc:  # noqa: BLE001
            raise queue_error(exc) from exc
        state = _STATES.get(queue.state)
        if state is None:
            raise QueueError("queue_state_unknown", f"state {queue.state}", retryable=True)
        return QueueInfo(name=queue.name, state=state)


def local_client(host: str) -> tasks_v2.CloudTasksClient:
    """A real client on an insecure channel to the local Cloud Tasks server.

    The reconnect backoff is kept short so that a restarted server is reached again
    within a second, instead of gRPC's default of up to two minutes.
    """
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(
        host,
        options=[
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ],
    )
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
