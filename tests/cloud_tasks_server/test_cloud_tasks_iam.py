"""The local server's permission checks, through the real client, with the policy that
terraform/ grants (as `make dev` starts it): each RPC needs its Cloud Tasks permission, a
caller that presents a service account gets exactly that account's permissions, a caller
that presents none is the local operator, and a server without a policy allows everyone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server import iam
from devtools.cloud_tasks_server.iam_terraform import TERRAFORM, tasks_identity
from devtools.cloud_tasks_server.runner import CloudTasksServer
from shared.adapters import cloud_tasks_queue
from shared.adapters.cloud_tasks_queue import local_client
from tests.cloud_tasks_server.tasks_server_helpers import http_task, unique

PROJECT = "demo-creator"
LOCATION = f"projects/{PROJECT}/locations/us-central1"
QUEUE = f"{LOCATION}/queues/video-generation"
URL = "http://127.0.0.1:9/never"  # tasks are scheduled far ahead: nothing is delivered
API = tasks_identity("api", PROJECT)
WORKER = tasks_identity("worker", PROJECT)
STRANGER = f"someone-else@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def guarded():
    with CloudTasksServer(queues=[QUEUE], iam_from=TERRAFORM) as running:
        yield running


def as_(server: CloudTasksServer, principal: str | None) -> tasks_v2.CloudTasksClient:
    return local_client(server.grpc_target, principal)


def a_task(operator: tasks_v2.CloudTasksClient) -> str:
    return operator.create_task(
        parent=QUEUE, task=http_task(URL, f"{QUEUE}/tasks/{unique('t')}", delay=3600)
    ).name


# Every RPC the server serves, as a call on the video queue (or its location).
CALLS: dict[str, Callable[[tasks_v2.CloudTasksClient, str], object]] = {
    "ListQueues": lambda c, _t: c.list_queues(parent=LOCATION),
    "GetQueue": lambda c, _t: c.get_queue(name=QUEUE),
    "CreateQueue": lambda c, _t: c.create_queue(
        parent=LOCATION, queue=tasks_v2.Queue(name=f"{LOCATION}/queues/{unique('q')}")
    ),
    "UpdateQueue": lambda c, _t: c.update_queue(queue=tasks_v2.Queue(name=QUEUE)),
    "PauseQueue": lambda c, _t: c.pause_queue(name=QUEUE),
    "ResumeQueue": lambda c, _t: c.resume_queue(name=QUEUE),
    "PurgeQueue": lambda c, _t: c.purge_queue(name=f"{LOCATION}/queues/{unique('gone')}"),
    "DeleteQueue": lambda c, _t: c.delete_queue(name=f"{LOCATION}/queues/{unique('gone')}"),
    "ListTasks": lambda c, _t: c.list_tasks(parent=QUEUE),
    "GetTask": lambda c, t: c.get_task(name=t),
    "CreateTask": lambda c, _t: c.create_task(parent=QUEUE, task=http_task(URL, delay=3600)),
    "DeleteTask": lambda c, t: c.delete_task(name=t),
    "RunTask": lambda c, t: c.run_task(name=t),
}
# What the code of each account calls (shared/adapters/cloud_tasks_queue.py): the api
# submits (CreateTask), cancels (DeleteTask), gates on GetQueue, pauses and resumes; the
# worker creates its poll and reconcile tasks, and its reconciler asks whether a start task
# is still in line (GetTask: granted on the start queue; locally a queue grant applies to
# every queue, a known difference).
ALLOWED = {
    API: {"CreateTask", "DeleteTask", "GetQueue", "PauseQueue", "ResumeQueue"},
    WORKER: {"CreateTask", "GetTask"},
    STRANGER: set(),
}


def outcome(server: CloudTasksServer, principal: str | None, rpc: str) -> str:
    """ "ok", "denied <permission>", or another error code (the call was let through)."""
    task = a_task(server.client())
    try:
        result = CALLS[rpc](as_(server, principal), task)
        if rpc in ("ListQueues", "ListTasks"):
            list(result)  # type: ignore[call-overload]
    except gexc.PermissionDenied as exc:
        return "denied " + str(exc.message).split('"')[1]
    except gexc.GoogleAPICallError as exc:
        return type(exc).__name__  # e.g. NotFound: allowed, and answered
    finally:
        server.client().resume_queue(name=QUEUE)
    return "ok"


@pytest.mark.parametrize("principal", sorted(ALLOWED))
def test_each_account_may_make_exactly_the_calls_terraform_grants_it(guarded, principal):
    seen = {rpc: outcome(guarded, principal, rpc) for rpc in CALLS}
    allowed = {rpc for rpc, result in seen.items() if not result.startswith("denied")}
    assert allowed == ALLOWED[principal], seen
    for rpc, result in seen.items():
        if rpc not in ALLOWED[principal]:
            assert result == f"denied {iam.RPC_PERMISSIONS[rpc][0]}", (rpc, result)


def test_a_denied_call_answers_permission_denied_in_the_services_words(guarded):
    task = a_task(guarded.client())
    with pytest.raises(gexc.PermissionDenied) as denied:
        as_(guarded, WORKER).delete_task(name=task)
    assert denied.value.message == (
        'The principal (user or service account) lacks IAM permission "cloudtasks.tasks.delete"'
        f' for the resource "{QUEUE}" (or the resource may not exist).'
    )
    assert guarded.client().get_task(name=task).name == task  # nothing was deleted


def test_a_caller_without_an_identity_is_the_local_operator_and_may_do_everything(guarded):
    assert {rpc: outcome(guarded, None, rpc) for rpc in CALLS} == {
        **{rpc: "ok" for rpc in CALLS},
        "PurgeQueue": "NotFound",  # allowed, and the queue does not exist
        "DeleteQueue": "NotFound",
    }


def test_a_full_view_also_needs_the_full_view_permission(guarded):
    """The enqueuer role has cloudtasks.tasks.fullView: the api may ask CreateTask for FULL."""
    full = tasks_v2.Task.View.FULL
    created = as_(guarded, API).create_task(
        request={"parent": QUEUE, "task": http_task(URL, delay=3600), "response_view": full}
    )
    assert created.http_request.body == b"{}"


def test_a_server_without_a_policy_lets_every_identity_do_everything():
    with CloudTasksServer(queues=[QUEUE]) as open_server:
        seen = {rpc: outcome(open_server, STRANGER, rpc) for rpc in CALLS}
    assert not [result for result in seen.values() if result.startswith("denied")], seen


def test_the_adapter_and_the_server_agree_on_the_metadata_that_names_the_caller():
    assert cloud_tasks_queue.LOCAL_PRINCIPAL_METADATA == iam.PRINCIPAL_METADATA


def test_a_policy_that_cannot_be_read_stops_the_server_at_start(tmp_path: Path):
    (tmp_path / "iam.tf").write_text(
        'resource "google_project_iam_member" "x" {\n'
        '  project = "p"\n  role = "roles/cloudtasks.somethingNew"\n'
        '  member = "serviceAccount:a@p.iam.gserviceaccount.com"\n}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cloud_tasks_server", "--port", "0", "--http-port", "0"]
        + ["--db", str(tmp_path / "db.sqlite3"), "--iam-from", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2
    assert "roles/cloudtasks.somethingNew is not in iam_roles" in done.stderr


def test_the_identity_setting_is_local_only_production_refuses_to_start():
    from shared.config import ConfigError, settings_from_env
    from tests.unit.production_env import PRODUCTION

    identity = {"CLOUD_TASKS_EMULATOR_IDENTITY": API}
    with pytest.raises(ConfigError, match="CLOUD_TASKS_EMULATOR_IDENTITY is a local convenience"):
        settings_from_env({**PRODUCTION, **identity})
    local = settings_from_env({"APP_ENV": "local", **identity})
    assert local.tasks_emulator_identity == API
