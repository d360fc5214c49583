"""The local Cloud Tasks server's known differences from Cloud Tasks, kept as tests (as
aertje/cloud-tasks-emulator keeps its `knowndiff`): each test asserts what the local server
does where the service does otherwise, and says what the service does.

When one of these fails, the difference is gone: delete the test and its line in
devtools/cloud_tasks_server/README.md ("Known differences"). A new difference gets a test
here and a line there; `test_the_readme_lists_exactly_these_differences` keeps the two
lists the same.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.iam.v1 import iam_policy_pb2

from devtools.cloud_tasks_server.iam_terraform import TERRAFORM, tasks_identity
from devtools.cloud_tasks_server.runner import CloudTasksServer
from tests.cloud_tasks_server.tasks_server_helpers import LOCATION, http_task, unique
from tests.waiting import wait_for

README = Path(__file__).resolve().parents[2] / "devtools" / "cloud_tasks_server" / "README.md"
# Differences that no test can show here, each with the reason (kept in the README too).
UNTESTED = {
    "logging_config": "no Cloud Logging here to apply it to",
    "system_throttling": "the service's throttling on errors and its ramp-up are not documented",
    "run_task_in_flight": "the service's answer to RunTask during a dispatch is not documented",
    "retry_reason_words": "the service's wording of X-CloudTasks-TaskRetryReason is not "
    "documented, so there is nothing to compare with",
    "stopped_dispatch_counts": "the service is never stopped",
    "task_retention": "31 days of retention and the task-count quotas need weeks or millions",
    "proxy_variables": "the service has no proxy of ours to go through",
    "iam_propagation": "IAM's propagation delay needs a real project and a real apply",
}
GUARDED_LOCATION = "projects/demo-creator/locations/us-central1"
GUARDED_QUEUE = f"{GUARDED_LOCATION}/queues/video-generation"
GUARDED_API = tasks_identity("api", "demo-creator")
GUARDED_WORKER = tasks_identity("worker", "demo-creator")


@pytest.fixture(scope="module")
def guarded_server():
    """A server with the policy of terraform/, as make dev starts it."""
    with CloudTasksServer(queues=[GUARDED_QUEUE], iam_from=TERRAFORM) as running:
        yield running


def test_knowndiff_app_engine_tasks_are_refused(client, make_queue) -> None:
    """Cloud Tasks: App Engine tasks are created and dispatched to App Engine.
    Here: INVALID_ARGUMENT (HTTP targets only)."""
    queue = make_queue()
    task = tasks_v2.Task(
        app_engine_http_request=tasks_v2.AppEngineHttpRequest(relative_uri="/x", body=b"{}")
    )
    with pytest.raises(gexc.InvalidArgument):
        client.create_task(parent=queue, task=task)


def test_knowndiff_iam_policy_rpcs_are_unimplemented(client, make_queue) -> None:
    """Cloud Tasks: GetIamPolicy answers the queue's policy.
    Here: UNIMPLEMENTED (permissions come from terraform/, not from a policy per queue)."""
    queue = make_queue()
    with pytest.raises(gexc.MethodNotImplemented):
        client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=queue))


def test_knowndiff_a_deleted_queue_name_is_free_at_once(client) -> None:
    """Cloud Tasks: a deleted queue's name cannot be used again for 7 days.
    Here: it can, at once."""
    name = f"{LOCATION}/queues/{unique('reused')}"
    client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=name))
    client.delete_queue(name=name)
    created = client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=name))
    assert created.name == name


def test_knowndiff_purge_is_synchronous(client, make_queue, receiver) -> None:
    """Cloud Tasks: PurgeQueue takes up to a minute to take effect.
    Here: the tasks are gone when the call returns."""
    queue = make_queue()
    for _ in range(3):
        client.create_task(parent=queue, task=http_task(receiver.url("/purged"), delay=3600))
    client.purge_queue(name=queue)
    assert list(client.list_tasks(parent=queue)) == []


def test_knowndiff_sub_second_backoffs_are_kept(client, make_queue) -> None:
    """Cloud Tasks: backoffs are truncated to whole seconds.
    Here: kept to the nanosecond (tests rely on sub-second backoffs)."""
    queue = make_queue(
        retry_config=tasks_v2.RetryConfig(
            min_backoff=timedelta(milliseconds=250), max_backoff=timedelta(milliseconds=750)
        )
    )
    retry = client.get_queue(name=queue).retry_config
    assert (retry.min_backoff, retry.max_backoff) == (
        timedelta(milliseconds=250),
        timedelta(milliseconds=750),
    )


@pytest.mark.parametrize("rate", [0.5, 3.2, 500.0])
def test_knowndiff_max_burst_size_is_fixed_by_the_rate(client, make_queue, rate: float) -> None:
    """Cloud Tasks: max_burst_size is output only and tuned by the service.
    Here: min(100, ceil(rate)), fixed."""
    queue = make_queue(rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=rate))
    burst = client.get_queue(name=queue).rate_limits.max_burst_size
    assert burst == min(100, math.ceil(rate))


def test_knowndiff_an_oauth_token_is_a_local_stand_in(client, make_queue, receiver) -> None:
    """Cloud Tasks: an oauth_token task carries a Google access token of the account.
    Here: `Bearer local-oauth-token-for-<service account>`, not usable at Google."""
    queue = make_queue()
    path = f"/{unique('oauth')}"
    task = http_task(receiver.url(path))
    task.http_request.oauth_token = tasks_v2.OAuthToken(service_account_email="sa@p.iam.test")
    client.create_task(parent=queue, task=task)
    delivery = wait_for(lambda: receiver.got(path), timeout=60)[0]
    assert delivery.headers["Authorization"] == "Bearer local-oauth-token-for-sa@p.iam.test"


def test_the_readme_lists_exactly_these_differences() -> None:
    """Each bullet of the README's "Known differences" names its test (`knowndiff: <id>`),
    and each test here has its bullet."""
    text = README.read_text()
    section = text.split("## Known differences", 1)[1].split("\n## ", 1)[0]
    bullets = re.split(r"\n- ", section.split("\n- ", 1)[1])
    unnamed = [b.split("\n")[0] for b in bullets if "knowndiff:" not in b]
    assert not unnamed, f"README differences without a test or a reason: {unnamed}"
    named = set(re.findall(r"knowndiff:\s+(\w+)", section))
    tested = {
        name.removeprefix("test_knowndiff_")
        for name in globals()
        if name.startswith("test_knowndiff_")
    }
    assert named == tested | set(UNTESTED), (
        f"in the README only: {sorted(named - tested - set(UNTESTED))}; "
        f"tested but not in the README: {sorted(tested - named)}"
    )


def test_knowndiff_the_principal_is_trusted_as_sent(guarded_server) -> None:
    """Cloud Tasks: the caller is who its OAuth token proves.
    Here: whoever the principal metadata names, with no token at all."""
    from shared.adapters.cloud_tasks_queue import local_client

    api = local_client(guarded_server.grpc_target, GUARDED_API)
    assert api.get_queue(name=GUARDED_QUEUE).name == GUARDED_QUEUE


def test_knowndiff_a_queue_grant_applies_to_every_queue(guarded_server) -> None:
    """Cloud Tasks: a grant on `<prefix>-video-generation` is for that queue only.
    Here: for every queue of the server (the local queue is named `video-generation`)."""
    from shared.adapters.cloud_tasks_queue import local_client

    other = f"{GUARDED_LOCATION}/queues/{unique('other')}"
    guarded_server.client().create_queue(parent=GUARDED_LOCATION, queue=tasks_v2.Queue(name=other))
    worker = local_client(guarded_server.grpc_target, GUARDED_WORKER)
    assert worker.create_task(parent=other, task=http_task("http://127.0.0.1:9/x", delay=3600))
