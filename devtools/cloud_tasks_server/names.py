"""Resource names as Cloud Tasks validates them, and generated task ids."""

from __future__ import annotations

import re
import secrets

from devtools.cloud_tasks_server.errors import invalid

_PROJECT = r"[A-Za-z0-9\-:.]{1,100}"
_LOCATION = r"[A-Za-z0-9\-]{1,100}"
_QUEUE = r"[A-Za-z0-9\-]{1,100}"
_TASK = r"[A-Za-z0-9_\-]{1,500}"

LOCATION_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})")
QUEUE_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})/queues/({_QUEUE})")
TASK_RE = re.compile(
    rf"projects/({_PROJECT})/locations/({_LOCATION})/queues/({_QUEUE})/tasks/({_TASK})"
)


def check_location(parent: str) -> str:
    """`projects/P/locations/L`, or INVALID_ARGUMENT."""
    if not LOCATION_RE.fullmatch(parent):
        raise invalid(
            f"Invalid resource field value in the request: parent {parent!r} must be of the "
            "form projects/PROJECT_ID/locations/LOCATION_ID"
        )
    return parent


def check_queue(name: str, field: str = "name") -> str:
    """`projects/P/locations/L/queues/Q` (Q: letters, digits, hyphens, 1..100)."""
    if not QUEUE_RE.fullmatch(name):
        raise invalid(
            f"Invalid resource field value in the request: {field} {name!r} must be of the "
            "form projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID, QUEUE_ID of "
            "letters, numbers and hyphens, at most 100 characters"
        )
    return name


def check_task(name: str) -> str:
    """`.../queues/Q/tasks/ID` (ID: letters, digits, hyphens, underscores, 1..500)."""
    if not TASK_RE.fullmatch(name):
        raise invalid(
            f"Invalid resource field value in the request: task name {name!r} must be of the "
            "form projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID/tasks/TASK_ID, "
            "TASK_ID of letters, numbers, hyphens and underscores, at most 500 characters"
        )
    return name


def queue_of(task_name: str) -> str:
    """The queue name of a (valid) task name."""
    return task_name.rsplit("/tasks/", 1)[0]


def short_id(name: str) -> str:
    """The last segment: the queue id of a queue name, the task id of a task name."""
    return name.rsplit("/", 1)[-1]


def location_of(queue_name: str) -> str:
    return queue_name.rsplit("/queues/", 1)[0]


def generated_task_id() -> str:
    """A service-style generated id: a string of decimal digits."""
    return str(secrets.randbelow(9 * 10**19) + 10**19)
