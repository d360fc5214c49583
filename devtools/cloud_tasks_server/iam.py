"""Permission checks of the local server: each RPC needs its Cloud Tasks permission.

Who calls: the service account named by the call metadata `PRINCIPAL_METADATA` (a client
of the local server sends it in place of the OAuth token that identifies a caller to the
real service; shared/adapters/cloud_tasks_queue.py does when CLOUD_TASKS_EMULATOR_IDENTITY
is set). A call without it comes from the local operator (`make` targets, tests, a plain
google-cloud-tasks client) and may do everything, as the Firestore emulator's admin.

What it may do: the grants of a `Policy` read from Terraform (iam_terraform.py), for the
project of the resource the call names. Without a policy (`Authorizer(None)`, a server
started without --iam-from) every caller may do everything, as emulators do.

A call that is not allowed is PERMISSION_DENIED with the service's wording.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import grpc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server import names
from devtools.cloud_tasks_server.errors import ApiError
from devtools.cloud_tasks_server.iam_roles import FULL_VIEW, RPC_PERMISSIONS
from devtools.cloud_tasks_server.iam_terraform import Policy
from devtools.cloud_tasks_server.state import RequestMessage

log = logging.getLogger("cloud_tasks_server.iam")

PRINCIPAL_METADATA = "x-cloud-tasks-local-principal"
_FULL = tasks_v2.Task.View.FULL


def denied(permission: str, resource: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.PERMISSION_DENIED,
        f'The principal (user or service account) lacks IAM permission "{permission}" for '
        f'the resource "{resource}" (or the resource may not exist).',
    )


def principal_of(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The service account a call presents, or None (the local operator)."""
    for key, value in metadata or ():
        if key == PRINCIPAL_METADATA:
            text = value.decode() if isinstance(value, bytes) else value
            return text.strip() or None
    return None


def resource_of(rpc: str, request: RequestMessage) -> str:
    """The resource a request names: the queue (tasks are checked on their queue), or the
    location for ListQueues."""
    if rpc == "ListQueues":
        return str(request.parent)
    if rpc in ("CreateQueue", "UpdateQueue"):
        return str(request.queue.name)
    if rpc in ("ListTasks", "CreateTask"):
        return str(request.parent)
    if rpc in ("GetTask", "DeleteTask", "RunTask"):
        return str(request.name.rsplit("/tasks/", 1)[0])
    return str(request.name)


class Authorizer:
    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy

    def check(
        self, rpc: str, request: RequestMessage, metadata: Sequence[tuple[str, str | bytes]]
    ) -> str | None:
        """Raise PERMISSION_DENIED unless the caller may make this call; the caller's
        service account (None: the local operator, or no policy)."""
        principal = principal_of(metadata)
        if self.policy is None or principal is None:
            return principal
        permission, scope = RPC_PERMISSIONS[rpc]
        resource = resource_of(rpc, request)
        found = names.LOCATION_RE.match(resource)
        if found is None:
            return principal  # a malformed name: the handler answers INVALID_ARGUMENT
        project = found.group(1)
        granted = self.policy.permissions(principal, project, on_queue=scope == "queue")
        needed = [permission]
        if getattr(request, "response_view", None) == _FULL:
            needed.append(FULL_VIEW)
        for each in needed:
            if each not in granted:
                log.info("denied %s to %s: lacks %s on %s", rpc, principal, each, resource)
                raise denied(each, resource)
        return principal
