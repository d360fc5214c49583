"""The `google.cloud.tasks.v2.CloudTasks` gRPC service: queue and task RPCs.

Handlers work on the raw protobuf classes behind the proto-plus types of google-cloud-tasks
(`tasks_v2.Task.pb()` etc.), so requests and responses are byte-for-byte the service's
messages. Each call is first checked against the IAM policy, if the server has one
(iam.py). Each state change is committed to SQLite, and posted to the dispatcher while the
database lock is held (so the dispatcher sees changes in commit order), before the reply.
RPCs not listed here (IAM, batch, CMEK) answer UNIMPLEMENTED, gRPC's default.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
import urllib.parse
from collections.abc import Callable

import grpc
from google.cloud import tasks_v2
from google.protobuf import empty_pb2

from devtools.cloud_tasks_server import names
from devtools.cloud_tasks_server.dispatcher import Dispatcher
from devtools.cloud_tasks_server.errors import (
    ApiError,
    already_exists,
    failed_precondition,
    invalid,
    not_found,
)
from devtools.cloud_tasks_server.iam import Authorizer
from devtools.cloud_tasks_server.protobuf_time import set_duration, set_timestamp, to_seconds
from devtools.cloud_tasks_server.state import (
    QueueMessage,
    QueuePb,
    RequestMessage,
    ResponseMessage,
    TaskDatabase,
    TaskMessage,
    TaskPb,
)
from devtools.cloud_tasks_server.token_bucket import burst_for

log = logging.getLogger("cloud_tasks_server.api")

SERVICE = "google.cloud.tasks.v2.CloudTasks"
# The RPCs served; the others (IAM, batch, CMEK, locations) answer UNIMPLEMENTED.
RPCS = (
    "ListQueues",
    "GetQueue",
    "CreateQueue",
    "UpdateQueue",
    "DeleteQueue",
    "PurgeQueue",
    "PauseQueue",
    "ResumeQueue",
    "ListTasks",
    "GetTask",
    "CreateTask",
    "DeleteTask",
    "RunTask",
)
State = tasks_v2.Queue.State
View = tasks_v2.Task.View
HttpMethod = tasks_v2.HttpMethod

MAX_SCHEDULE_AHEAD = 30 * 24 * 3600.0
MAX_DISPATCH_DEADLINE = 30 * 60.0
DEFAULT_DISPATCH_DEADLINE = 10 * 60.0
MAX_TASK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 80 * 1024
MAX_URL = 2083
MAX_QUEUE_PAGE = 9800
MAX_TASK_PAGE = 1000
_BODYLESS = {HttpMethod.GET, HttpMethod.HEAD, HttpMethod.DELETE, HttpMethod.OPTIONS}
_UPDATABLE = ("app_engine_routing_override", "http_target", "rate_limits", "retry_config")
_UPDATABLE_ALSO = ("stackdriver_logging_config",)
_OUTPUT_ONLY = {"state", "purge_time", "rate_limits.max_burst_size"}
_FILTER = re.compile(r"\s*state\s*[:=]\s*([A-Za-z_]+)\s*")


def normalize_queue(queue: QueueMessage) -> None:
    """Validate a queue's settings and fill what is unset with the service's defaults."""
    limits = queue.rate_limits
    rate = limits.max_dispatches_per_second
    if not 0 <= rate <= 500:
        raise invalid("rate_limits.max_dispatches_per_second must be in [0, 500]")
    limits.max_dispatches_per_second = rate or 500.0
    if not 0 <= limits.max_concurrent_dispatches <= 5000:
        raise invalid("rate_limits.max_concurrent_dispatches must be in [0, 5000]")
    limits.max_concurrent_dispatches = limits.max_concurrent_dispatches or 1000
    limits.max_burst_size = burst_for(limits.max_dispatches_per_second)
    retry = queue.retry_config
    if retry.max_attempts < -1:
        raise invalid("retry_config.max_attempts must be -1 (unlimited) or more")
    retry.max_attempts = retry.max_attempts or 100
    if retry.max_doublings < 0:
        raise invalid("retry_config.max_doublings must not be negative")
    retry.max_doublings = retry.max_doublings or 16
    for name in ("max_retry_duration", "min_backoff", "max_backoff"):
        if to_seconds(getattr(retry, name)) < 0:
            raise invalid(f"retry_config.{name} must not be negative")
    if not to_seconds(retry.min_backoff):
        set_duration(retry.min_backoff, 0.1)
    if not to_seconds(retry.max_backoff):
        set_duration(retry.max_backoff, 3600.0)
    if to_seconds(retry.min_backoff) > to_seconds(retry.max_backoff):
        raise invalid("retry_config.min_backoff must not be greater than max_backoff")
    if queue.state == State.STATE_UNSPECIFIED:
        queue.state = State.RUNNING


def _snake(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).lower()


def _apply_mask_path(dst: QueueMessage, src: QueueMessage, path: str) -> None:
    head, _, rest = path.partition(".")
    fields = dst.DESCRIPTOR.fields_by_name
    if head not in fields:
        raise invalid(f"update_mask path {path!r} names no field")
    field = fields[head]
    is_message = field.message_type is not None and not field.message_type.GetOptions().map_entry
    if rest:
        if not is_message or field.is_repeated:
            raise invalid(f"update_mask path {path!r} names no field")
        _apply_mask_path(getattr(dst, head), getattr(src, head), rest)
        return
    dst.ClearField(head)
    if field.is_repeated:
        getattr(dst, head).MergeFrom(getattr(src, head))
    elif is_message:
        if src.HasField(head):
            getattr(dst, head).CopyFrom(getattr(src, head))
    else:
        setattr(dst, head, getattr(src, head))


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _untoken(token: str, kind: str) -> str:
    """The value of a page token made by _token(f"{kind}:{value}"), or INVALID_ARGUMENT."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        text = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid("page_token is not valid") from exc
    if not text.startswith(kind + ":"):
        raise invalid("page_token is not valid")
    return text[len(kind) + 1 :]


def task_view(task: TaskMessage, view: int) -> TaskMessage:
    out = TaskPb()
    out.CopyFrom(task)
    if view == View.FULL:
        out.view = View.FULL
    else:
        out.view = View.BASIC
        if out.HasField("http_request"):
            out.http_request.ClearField("body")
        if out.HasField("app_engine_http_request"):
            out.app_engine_http_request.ClearField("body")
    return out


class CloudTasksService:
    def __init__(
        self,
        database: TaskDatabase,
        dispatcher: Dispatcher,
        *,
        min_dispatch_deadline: float = 15.0,
        clock: Callable[[], float] = time.time,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.authorizer = authorizer or Authorizer(None)
        self.database = database
        self.dispatcher = dispatcher
        self.min_dispatch_deadline = min_dispatch_deadline
        self.clock = clock

    # -- wiring ---------------------------------------------------------------------------

    def handler(self) -> grpc.GenericRpcHandler:
        """Each RPC of RPCS, served by the method of its snake_case name (GetTask: get_task),
        its request parsed as tasks_v2.<RPC>Request."""
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                rpc: grpc.unary_unary_rpc_method_handler(
                    self._wrap(rpc, getattr(self, _snake(rpc))),
                    request_deserializer=getattr(tasks_v2, f"{rpc}Request").pb().FromString,
                    response_serializer=lambda message: message.SerializeToString(),
                )
                for rpc in RPCS
            },
        )

    def _wrap(
        self, rpc: str, fn: Callable[[RequestMessage], ResponseMessage]
    ) -> Callable[[RequestMessage, grpc.ServicerContext], ResponseMessage]:
        def handle(request: RequestMessage, context: grpc.ServicerContext) -> ResponseMessage:
            try:
                self.authorizer.check(rpc, request, context.invocation_metadata())
                response = fn(request)
            except ApiError as error:
                log.debug("%s -> %s: %s", rpc, error.code.name, error.message)
                context.abort(error.code, error.message)
            except Exception:  # noqa: BLE001 - answer INTERNAL, never hang up
                log.exception("%s failed", rpc)
                context.abort(grpc.StatusCode.INTERNAL, f"{rpc} failed in the local server")
            log.debug("%s -> OK", rpc)
            return response

        return handle

    def _queue(self, name: str) -> QueueMessage:
        queue = self.database.get_queue(names.check_queue(name))
        if queue is None:
            raise not_found(f"Requested entity was not found. Queue {name} does not exist.")
        return queue

    # -- queues ---------------------------------------------------------------------------

    def create_queue(self, request: RequestMessage) -> QueueMessage:
        parent = names.check_location(request.parent)
        queue = QueuePb()
        queue.CopyFrom(request.queue)
        names.check_queue(queue.name, "queue.name")
        if names.location_of(queue.name) != parent:
            raise invalid(f"queue.name {queue.name!r} is not in parent {parent!r}")
        queue.ClearField("state")
        queue.ClearField("purge_time")
        normalize_queue(queue)
        with self.database.lock:
            if not self.database.insert_queue(queue):
                raise already_exists(f"Queue {queue.name} already exists.")
            self.dispatcher.queue_changed(queue)
        return queue

    def get_queue(self, request: RequestMessage) -> QueueMessage:
        return self._queue(request.name)

    def list_queues(self, request: RequestMessage) -> ResponseMessage:
        parent = names.check_location(request.parent)
        wanted = None
        if request.filter.strip():
            match = _FILTER.fullmatch(request.filter)
            state = match and State.__members__.get(match.group(1).upper())
            if not state:
                raise invalid(f"filter {request.filter!r} is not supported (only state: X)")
            wanted = state
        if request.page_size < 0:
            raise invalid("page_size must not be negative")
        size = min(request.page_size or MAX_QUEUE_PAGE, MAX_QUEUE_PAGE)
        after = _untoken(request.page_token, "queue") if request.page_token else ""
        queues = [
            q
            for q in self.database.list_queues(parent, after, 1_000_000)
            if wanted is None or q.state == wanted
        ]
        response = tasks_v2.ListQueuesResponse.pb()()
        response.queues.extend(queues[:size])
        if len(queues) > size:
            response.next_page_token = _token(f"queue:{queues[size - 1].name}")
        return response

    def update_queue(self, request: RequestMessage) -> QueueMessage:
        incoming = request.queue
        names.check_queue(incoming.name, "queue.name")
        paths = [_snake(p) for p in request.update_mask.paths]
        with self.database.lock:
            queue = self.database.get_queue(incoming.name)
            created = queue is None
            if created:
                queue = QueuePb(name=incoming.name)
            if paths:
                for path in paths:
                    if path == "name":
                        continue
                    if path in _OUTPUT_ONLY:
                        raise invalid(f"update_mask path {path!r} is output only")
                    if path.split(".")[0] not in _UPDATABLE + _UPDATABLE_ALSO:
                        raise invalid(f"update_mask path {path!r} cannot be updated")
                    _apply_mask_path(queue, incoming, path)
            else:
                for field in _UPDATABLE + _UPDATABLE_ALSO:
                    if incoming.HasField(field):
                        getattr(queue, field).CopyFrom(getattr(incoming, field))
            normalize_queue(queue)
            self.database.put_queue(queue)
            self.dispatcher.queue_changed(queue)
        return queue

    def _set_state(self, name: str, state: int) -> QueueMessage:
        with self.database.lock:
            queue = self._queue(name)
            queue.state = state
            self.database.put_queue(queue)
            self.dispatcher.queue_changed(queue)
        return queue

    def pause_queue(self, request: RequestMessage) -> QueueMessage:
        return self._set_state(request.name, State.PAUSED)

    def resume_queue(self, request: RequestMessage) -> QueueMessage:
        return self._set_state(request.name, State.RUNNING)

    def purge_queue(self, request: RequestMessage) -> QueueMessage:
        now = self.clock()
        with self.database.lock:
            queue = self._queue(request.name)
            set_timestamp(queue.purge_time, now)
            count = self.database.purge_queue(queue, now)
            self.dispatcher.queue_purged(queue.name)
        log.info("purge queue=%s tasks=%d", names.short_id(queue.name), count)
        return queue

    def delete_queue(self, request: RequestMessage) -> empty_pb2.Empty:
        names.check_queue(request.name)
        with self.database.lock:
            if not self.database.delete_queue(request.name, self.clock()):
                raise not_found(f"Requested entity was not found. Queue {request.name}.")
            self.dispatcher.queue_removed(request.name)
        return empty_pb2.Empty()

    # -- tasks ----------------------------------------------------------------------------

    def create_task(self, request: RequestMessage) -> TaskMessage:
        now = self.clock()
        parent = names.check_queue(request.parent, "parent")
        task = TaskPb()
        task.CopyFrom(request.task)
        if task.name:
            names.check_task(task.name)
            if names.queue_of(task.name) != parent:
                raise invalid(f"task.name {task.name!r} is not in parent {parent!r}")
        self._check_target(task)
        schedule = to_seconds(task.schedule_time) if task.HasField("schedule_time") else 0.0
        if schedule > now + MAX_SCHEDULE_AHEAD:
            raise invalid("schedule_time must be at most 30 days in the future")
        schedule = max(schedule, now)
        set_timestamp(task.schedule_time, schedule)
        deadline = (
            to_seconds(task.dispatch_deadline)
            if task.HasField("dispatch_deadline")
            else DEFAULT_DISPATCH_DEADLINE
        )
        deadline = min(max(deadline, self.min_dispatch_deadline), MAX_DISPATCH_DEADLINE)
        set_duration(task.dispatch_deadline, deadline)
        set_timestamp(task.create_time, int(now))  # truncated to the second
        for output in ("dispatch_count", "response_count", "first_attempt", "last_attempt"):
            task.ClearField(output)
        task.ClearField("view")
        if task.ByteSize() > MAX_TASK_BYTES:
            raise invalid("Task size too large: the maximum is 1 MB")
        with self.database.lock:
            queue = self._queue(parent)
            if queue.state == State.DISABLED:
                raise failed_precondition(f"Queue {parent} is disabled.")
            if task.name:
                taken = self.database.name_taken(task.name, now)
                if taken:
                    raise already_exists(
                        f"Requested entity already exists. Task {task.name} is {taken}: "
                        "a task of that name exists or was deleted or executed recently."
                    )
            else:
                task.name = f"{parent}/tasks/{names.generated_task_id()}"
            self.database.insert_task(task, parent, schedule)
            self.dispatcher.task_added(parent, task.name, schedule)
        return task_view(task, request.response_view)

    def _check_target(self, task: TaskMessage) -> None:
        if task.HasField("app_engine_http_request"):
            raise invalid("App Engine tasks are not supported by the local Cloud Tasks server")
        if not task.HasField("http_request"):
            raise invalid("Task.http_request is required")
        request = task.http_request
        if not request.url.startswith(("http://", "https://")):
            raise invalid("HttpRequest.url must begin with http:// or https://")
        try:
            valid = bool(urllib.parse.urlsplit(request.url).hostname)
        except ValueError:
            valid = False
        if not valid:
            raise invalid(f"HttpRequest.url {request.url!r} is not a valid URL")
        if len(request.url) > MAX_URL:
            raise invalid(f"HttpRequest.url is longer than {MAX_URL} characters")
        if request.http_method == HttpMethod.HTTP_METHOD_UNSPECIFIED:
            request.http_method = HttpMethod.POST
        if request.body and request.http_method in _BODYLESS:
            raise invalid("A body is allowed only with POST, PUT or PATCH")
        size = sum(len(k) + len(v) for k, v in request.headers.items())
        if size >= MAX_HEADER_BYTES:
            raise invalid("HttpRequest.headers must be less than 80KB")
        if request.HasField("oidc_token") and not request.oidc_token.service_account_email:
            raise invalid("OidcToken.service_account_email is required")

    def get_task(self, request: RequestMessage) -> TaskMessage:
        row = self.database.get_task(names.check_task(request.name))
        if row is None:
            raise not_found(f"Requested entity was not found. Task {request.name}.")
        return task_view(row.task, request.response_view)

    def list_tasks(self, request: RequestMessage) -> ResponseMessage:
        self._queue(request.parent)
        if request.page_size < 0:
            raise invalid("page_size must not be negative")
        size = min(request.page_size or MAX_TASK_PAGE, MAX_TASK_PAGE)
        after = 0
        if request.page_token:
            raw = _untoken(request.page_token, "seq")
            if not raw.isdigit():
                raise invalid("page_token is not valid")
            after = int(raw)
        rows = self.database.list_tasks(request.parent, after, size + 1)
        response = tasks_v2.ListTasksResponse.pb()()
        response.tasks.extend(task_view(row.task, request.response_view) for row in rows[:size])
        if len(rows) > size:
            response.next_page_token = _token(f"seq:{rows[size - 1].seq}")
        return response

    def delete_task(self, request: RequestMessage) -> empty_pb2.Empty:
        name = names.check_task(request.name)
        with self.database.lock:
            if not self.database.delete_task(name, self.clock()):
                raise not_found(f"Requested entity was not found. Task {name}.")
            self.dispatcher.task_removed(name)
        return empty_pb2.Empty()

    def run_task(self, request: RequestMessage) -> TaskMessage:
        name = names.check_task(request.name)
        if self.database.get_task(name) is None:
            raise not_found(f"Requested entity was not found. Task {name}.")
        task = self.dispatcher.run_now(name)
        if task is None:  # already running: the task as it is
            row = self.database.get_task(name)
            if row is None:
                raise not_found(f"Requested entity was not found. Task {name}.")
            task = row.task
        return task_view(task, request.response_view)
