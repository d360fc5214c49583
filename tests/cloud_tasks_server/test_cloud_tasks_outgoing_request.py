"""What one dispatch attempt sends, and through which client, without a server or a network:
outgoing_request.py and client_pool.py of the local Cloud Tasks server on their own."""

from __future__ import annotations

import asyncio
import threading

import jwt
import pytest
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.client_pool import ClientPool
from devtools.cloud_tasks_server.oidc import Signer, new_private_key_pem
from devtools.cloud_tasks_server.outgoing_request import build_request
from devtools.cloud_tasks_server.protobuf_time import set_timestamp
from devtools.cloud_tasks_server.state import TaskRow

QUEUE = "projects/p/locations/l/queues/the-queue"
ACCOUNT = "invoker@p.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(new_private_key_pem())


def row(
    http_request: tasks_v2.HttpRequest,
    *,
    dispatch_count: int = 0,
    executions: int = 0,
    prev_status: int | None = None,
    retry_reason: str | None = None,
) -> TaskRow:
    task = tasks_v2.Task.pb(
        tasks_v2.Task(
            name=f"{QUEUE}/tasks/the-task",
            http_request=http_request,
            dispatch_count=dispatch_count,
        )
    )
    set_timestamp(task.schedule_time, 1_700_000_000.25)
    return TaskRow(
        seq=1,
        name=task.name,
        queue=QUEUE,
        schedule=1_700_000_000.25,
        version=1,
        executions=executions,
        prev_status=prev_status,
        retry_reason=retry_reason,
        task=task,
    )


def test_the_first_attempt_sends_the_task_with_the_service_headers(signer):
    sent = build_request(
        row(
            tasks_v2.HttpRequest(
                url="https://worker.example/run?x=1",
                http_method=tasks_v2.HttpMethod.PUT,
                headers={
                    "Content-Type": "application/json",
                    "X-Mine": "kept",
                    "user-agent": "replaced",
                    "Host": "dropped",
                    "X-Google-Secret": "dropped",
                    "X-CloudTasks-TaskRetryCount": "forged",
                },
                body=b"{}",
            )
        ),
        None,
        signer,
    )
    assert (sent.method, sent.url, sent.body) == ("PUT", "https://worker.example/run?x=1", b"{}")
    assert sent.headers == {
        "Content-Type": "application/json",
        "X-Mine": "kept",
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": "the-queue",
        "X-CloudTasks-TaskName": "the-task",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1700000000.250000",
    }


def test_a_retry_says_what_came_before(signer):
    sent = build_request(
        row(
            tasks_v2.HttpRequest(url="http://worker/run"),
            dispatch_count=2,
            executions=1,
            prev_status=503,
            retry_reason="HTTP 503",
        ),
        None,
        signer,
    )
    assert sent.headers["X-CloudTasks-TaskRetryCount"] == "2"
    assert sent.headers["X-CloudTasks-TaskExecutionCount"] == "1"
    assert sent.headers["X-CloudTasks-TaskPreviousResponse"] == "503"
    assert sent.headers["X-CloudTasks-TaskRetryReason"] == "HTTP 503"


def test_the_queue_target_overrides_method_headers_and_token(signer):
    target = tasks_v2.HttpTarget.pb(
        tasks_v2.HttpTarget(
            http_method=tasks_v2.HttpMethod.GET,
            header_overrides=[
                tasks_v2.HttpTarget.HeaderOverride(
                    header=tasks_v2.HttpTarget.Header(key="x-mine", value="from-queue")
                )
            ],
            oauth_token=tasks_v2.OAuthToken(service_account_email=ACCOUNT),
        )
    )
    sent = build_request(
        row(
            tasks_v2.HttpRequest(
                url="http://worker/run",
                headers={"X-Mine": "from-task", "AUTHORIZATION": "Basic forged"},
                body=b"a body",
                oidc_token=tasks_v2.OidcToken(service_account_email="task@p.example"),
            )
        ),
        target,
        signer,
    )
    assert sent.method == "GET" and sent.body is None  # no body on GET
    assert sent.headers["x-mine"] == "from-queue" and "X-Mine" not in sent.headers
    assert sent.headers["Authorization"] == f"Bearer local-oauth-token-for-{ACCOUNT}"
    assert "AUTHORIZATION" not in sent.headers


def test_an_oidc_token_is_for_the_task_url_unless_an_audience_is_given(signer):
    def claims(token: tasks_v2.OidcToken) -> dict:
        sent = build_request(
            row(tasks_v2.HttpRequest(url="https://worker.example/run", oidc_token=token)),
            None,
            signer,
        )
        bearer = sent.headers["Authorization"].removeprefix("Bearer ")
        return jwt.decode(bearer, options={"verify_signature": False})

    assert claims(tasks_v2.OidcToken(service_account_email=ACCOUNT))["aud"] == (
        "https://worker.example/run"
    )
    with_audience = claims(tasks_v2.OidcToken(service_account_email=ACCOUNT, audience="aud"))
    assert with_audience["aud"] == "aud" and with_audience["email"] == ACCOUNT


def test_the_pool_lends_the_least_busy_client_and_adds_one_when_all_are_full():
    pool = ClientPool(per_client=2)
    try:
        assert [pool.acquire() for _ in range(2)] == [0, 0]
        assert pool.acquire() == 1  # client 0 is full
        assert pool.acquire() == 1
        pool.release(0)
        assert pool.acquire() == 0  # the least busy again
        assert pool.acquire() == 2
        assert len({id(pool.client(i)) for i in range(3)}) == 3
    finally:
        # A thread of its own: the test's thread may have an event loop running already
        # (Playwright's sync API keeps one while a browser is open).
        closer = threading.Thread(target=lambda: asyncio.run(pool.aclose()))
        closer.start()
        closer.join()
