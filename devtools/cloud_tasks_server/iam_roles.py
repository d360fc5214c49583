"""What each Cloud Tasks RPC requires, and the Cloud Tasks permissions of Google's roles.

Sources (read 2026-12):
- the permission each method requires, and on what:
  https://cloud.google.com/tasks/docs/reference-access-control ("Every Cloud Tasks method
  requires the caller to have the necessary permissions"; GetQueue needs
  cloudtasks.queues.get on the queue, ListQueues cloudtasks.queues.list on the project, ...)
- the roles: https://cloud.google.com/iam/docs/roles-permissions/cloudtasks (the Cloud Tasks
  roles) and https://cloud.google.com/iam/docs/roles-overview (basic roles);
- a FULL response view also needs cloudtasks.tasks.fullView (the `response_view` field's
  documentation in google/cloud/tasks/v2/cloudtasks.proto).

Only the `cloudtasks.*` permissions that the served RPCs check are kept: a role's other
permissions (resourcemanager.projects.get, monitoring.timeSeries.list, locations, CMEK,
IAM policy) cannot change an answer of this server.
"""

from __future__ import annotations

# RPC -> (permission, what it is checked on: "project" for ListQueues, else the queue).
# CreateQueue is checked on the queue it names; RunTask on the task, which inherits its
# queue's policy (IAM is set on queues and projects only).
RPC_PERMISSIONS: dict[str, tuple[str, str]] = {
    "ListQueues": ("cloudtasks.queues.list", "project"),
    "GetQueue": ("cloudtasks.queues.get", "queue"),
    "CreateQueue": ("cloudtasks.queues.create", "queue"),
    "UpdateQueue": ("cloudtasks.queues.update", "queue"),
    "DeleteQueue": ("cloudtasks.queues.delete", "queue"),
    "PurgeQueue": ("cloudtasks.queues.purge", "queue"),
    "PauseQueue": ("cloudtasks.queues.pause", "queue"),
    "ResumeQueue": ("cloudtasks.queues.resume", "queue"),
    "ListTasks": ("cloudtasks.tasks.list", "queue"),
    "GetTask": ("cloudtasks.tasks.get", "queue"),
    "CreateTask": ("cloudtasks.tasks.create", "queue"),
    "DeleteTask": ("cloudtasks.tasks.delete", "queue"),
    "RunTask": ("cloudtasks.tasks.run", "queue"),
}
FULL_VIEW = "cloudtasks.tasks.fullView"  # also required by a response_view of FULL

_QUEUES_ALL = frozenset(
    f"cloudtasks.queues.{verb}"
    for verb in ("create", "delete", "get", "list", "pause", "purge", "resume", "update")
)
_TASKS_ALL = frozenset(
    f"cloudtasks.tasks.{verb}" for verb in ("create", "delete", "fullView", "get", "list", "run")
)
_READ = frozenset(
    {
        "cloudtasks.queues.get",
        "cloudtasks.queues.list",
        "cloudtasks.tasks.get",
        "cloudtasks.tasks.list",
    }
)

# Predefined role -> its Cloud Tasks permissions (those this server checks).
PREDEFINED_ROLES: dict[str, frozenset[str]] = {
    "roles/cloudtasks.admin": _QUEUES_ALL | _TASKS_ALL,
    "roles/cloudtasks.editor": _QUEUES_ALL | _TASKS_ALL,
    "roles/cloudtasks.queueAdmin": _QUEUES_ALL,
    "roles/cloudtasks.enqueuer": frozenset({"cloudtasks.tasks.create", FULL_VIEW}),
    "roles/cloudtasks.taskDeleter": frozenset({"cloudtasks.tasks.delete"}),
    "roles/cloudtasks.taskRunner": frozenset({"cloudtasks.tasks.run", FULL_VIEW}),
    "roles/cloudtasks.viewer": _READ,
    # Basic roles: owner and editor hold every cloudtasks permission checked here, viewer
    # the get and list ones.
    "roles/owner": _QUEUES_ALL | _TASKS_ALL,
    "roles/editor": _QUEUES_ALL | _TASKS_ALL,
    "roles/viewer": _READ,
}

ALL_PERMISSIONS = _QUEUES_ALL | _TASKS_ALL


def role_permissions(role: str) -> frozenset[str] | None:
    """The Cloud Tasks permissions of a predefined role; None for a role this table does
    not know (a role of another service grants no Cloud Tasks permission: empty)."""
    if role in PREDEFINED_ROLES:
        return PREDEFINED_ROLES[role]
    if role.startswith("roles/cloudtasks."):
        return None  # a Cloud Tasks role missing here: the reader refuses to guess
    return frozenset()
