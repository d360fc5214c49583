"""Dispatch by the local Cloud Tasks server: schedule, pause, limits, retries, headers, OIDC."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import jwt
import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.outgoing_request import override_uri
from devtools.processes import free_port
from tests.cloud_tasks_server.tasks_server_helpers import LOCATION, http_task, task_exists, unique
from tests.servers.receiver import Reply
from tests.waiting import wait_for

SERVICE_ACCOUNT = "invoker@test-project.iam.gserviceaccount.com"


def fast_retry(max_attempts: int = 5, min_backoff: float = 0.2, **more) -> tasks_v2.RetryConfig:
    return tasks_v2.RetryConfig(
        max_attempts=max_attempts,
        min_backoff=timedelta(seconds=min_backoff),
        max_backoff=timedelta(seconds=more.pop("max_backoff", 10)),
        **more,
    )


def test_a_future_task_is_not_delivered_early_then_delivered(client, make_queue, receiver):
    queue = make_queue()
    path = f"/{unique('future')}"
    task = client.create_task(parent=queue, task=http_task(receiver.url(path), delay=1.5))
    due = task.schedule_time.timestamp()
    [delivery] = wait_for(lambda: receiver.got(path), timeout=10)
    assert delivery.at >= due - 0.01  # never early
    assert delivery.at - due < 1.0  # and not much late


def test_a_paused_queue_holds_its_tasks_until_resumed(client, make_queue, receiver):
    queue = make_queue()
    client.pause_queue(name=queue)
    path = f"/{unique('paused')}"
    task = client.create_task(parent=queue, task=http_task(receiver.url(path)))
    time.sleep(1.0)  # a due task, a paused queue: nothing may arrive meanwhile
    assert receiver.got(path) == []
    assert client.get_task(name=task.name).dispatch_count == 0
    client.resume_queue(name=queue)
    wait_for(lambda: receiver.got(path), timeout=5)


def test_purge_drops_due_tasks_of_a_paused_queue(client, make_queue, receiver):
    queue = make_queue()
    client.pause_queue(name=queue)
    path = f"/{unique('purged')}"
    for _ in range(3):
        client.create_task(parent=queue, task=http_task(receiver.url(path)))
    client.purge_queue(name=queue)
    client.resume_queue(name=queue)
    marker = f"/{unique('after-purge')}"
    client.create_task(parent=queue, task=http_task(receiver.url(marker)))
    wait_for(lambda: receiver.got(marker))  # the queue runs again...
    assert receiver.got(path) == []  # ...and the purged tasks never came


def test_max_concurrent_dispatches_is_never_exceeded(client, make_queue, receiver):
    queue = make_queue(rate_limits=tasks_v2.RateLimits(max_concurrent_dispatches=2))
    path = f"/{unique('concurrency')}"
    receiver.script(path, Reply(delay=0.4))
    for _ in range(6):
        client.create_task(parent=queue, task=http_task(receiver.url(path)))
    deliveries = wait_for(lambda: len(receiver.got(path)) == 6 and receiver.got(path))
    assert receiver.max_in_flight[path] == 2
    # Three rounds of two, 0.4 s each: the last two start about 0.8 s after the first.
    assert deliveries[-1].at - deliveries[0].at >= 0.7


def test_max_dispatches_per_second_is_a_token_bucket(client, make_queue, receiver):
    queue = make_queue(rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=2))
    assert client.get_queue(name=queue).rate_limits.max_burst_size == 2
    path = f"/{unique('rate')}"
    client.pause_queue(name=queue)
    for _ in range(6):
        client.create_task(parent=queue, task=http_task(receiver.url(path)))
    client.resume_queue(name=queue)
    arrivals = [d.at for d in wait_for(lambda: len(receiver.got(path)) == 6 and receiver.got(path))]
    arrivals.sort()
    # A burst of 2, then one every 0.5 s: the sixth comes about 2 s after the first.
    assert arrivals[1] - arrivals[0] < 0.45
    for k in range(2, 6):  # the k-th waits for its token: (k - 1) * 0.5 s after the first
        assert arrivals[k] - arrivals[0] >= (k - 1) * 0.5 - 0.15, arrivals
    assert arrivals[-1] - arrivals[0] <= 4.0


def test_failures_are_retried_with_backoff_then_dropped(client, make_queue, receiver):
    queue = make_queue(retry_config=fast_retry(max_attempts=4, min_backoff=0.2))
    path = f"/{unique('retry')}"
    receiver.script(path, Reply(status=500))
    task = client.create_task(
        parent=queue, task=http_task(receiver.url(path), f"{queue}/tasks/{unique('r')}")
    )
    deliveries = wait_for(lambda: len(receiver.got(path)) == 4 and receiver.got(path))
    gaps = [b.at - a.at for a, b in zip(deliveries, deliveries[1:], strict=False)]
    for gap, expected in zip(gaps, [0.2, 0.4, 0.8], strict=True):
        assert expected * 0.9 <= gap <= expected + 1.0, gaps
    assert [d.headers["X-CloudTasks-TaskRetryCount"] for d in deliveries] == ["0", "1", "2", "3"]
    assert "X-CloudTasks-TaskPreviousResponse" not in deliveries[0].headers
    assert "X-CloudTasks-TaskRetryReason" not in deliveries[0].headers
    for delivery in deliveries[1:]:
        assert delivery.headers["X-CloudTasks-TaskPreviousResponse"] == "500"
        assert delivery.headers["X-CloudTasks-TaskRetryReason"]
        assert delivery.headers["X-CloudTasks-TaskExecutionCount"] == "0"  # 5xx do not count

    # After the last attempt the task is dropped, and its name stays taken.
    wait_for(lambda: not task_exists(client, task.name))
    time.sleep(1.0)
    assert len(receiver.got(path)) == 4
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task=http_task(receiver.url(path), task.name))


def test_a_failed_task_shows_its_attempts(client, make_queue, receiver):
    queue = make_queue(retry_config=fast_retry(min_backoff=30, max_backoff=60))
    path = f"/{unique('attempts')}"
    receiver.script(path, Reply(status=404))
    task = client.create_task(parent=queue, task=http_task(receiver.url(path)))
    wait_for(lambda: receiver.got(path))

    def failed_once():
        seen = client.get_task(name=task.name)
        return seen.response_count == 1 and seen

    seen = wait_for(failed_once)
    assert seen.dispatch_count == 1
    assert seen.first_attempt.dispatch_time.timestamp() > 0
    assert seen.last_attempt.response_status.code == 5  # NOT_FOUND
    assert seen.last_attempt.response_time.timestamp() >= (
        seen.last_attempt.dispatch_time.timestamp()
    )
    assert 25 < seen.schedule_time.timestamp() - time.time() <= 31  # the 30 s backoff

    # RunTask retries it now; a 4xx counts as an execution.
    receiver.script(path, Reply(status=200))
    ran = client.run_task(name=task.name)
    assert ran.dispatch_count == 2
    second = wait_for(lambda: len(receiver.got(path)) == 2 and receiver.got(path)[1])
    assert second.headers["X-CloudTasks-TaskExecutionCount"] == "1"
    assert second.headers["X-CloudTasks-TaskPreviousResponse"] == "404"


def test_retry_after_is_honoured(client, make_queue, receiver):
    queue = make_queue(retry_config=fast_retry(min_backoff=0.1))
    path = f"/{unique('retry-after')}"
    receiver.script(path, Reply(status=503, headers={"Retry-After": "2"}), Reply(status=200))
    client.create_task(parent=queue, task=http_task(receiver.url(path)))
    first, second = wait_for(lambda: len(receiver.got(path)) == 2 and receiver.got(path))
    assert 1.9 <= second.at - first.at <= 3.0


def test_the_dispatch_deadline_times_out_and_is_retried(client, make_queue, receiver):
    queue = make_queue(retry_config=fast_retry(min_backoff=0.1))
    path = f"/{unique('deadline')}"
    receiver.script(path, Reply(delay=3.0), Reply(status=200))
    client.create_task(parent=queue, task=http_task(receiver.url(path), deadline=1.0))
    first, second = wait_for(lambda: len(receiver.got(path)) == 2 and receiver.got(path))
    assert 0.9 <= second.at - first.at <= 2.5  # the 1 s deadline plus the 0.1 s backoff
    assert second.headers["X-CloudTasks-TaskRetryReason"] == "DEADLINE_EXCEEDED"
    assert "X-CloudTasks-TaskPreviousResponse" not in second.headers


def test_a_refused_connection_is_retried(client, make_queue, receiver):
    queue = make_queue(retry_config=fast_retry(max_attempts=2, min_backoff=0.1))
    task = client.create_task(
        parent=queue, task=http_task(f"http://127.0.0.1:{free_port()}/nobody")
    )
    wait_for(lambda: not task_exists(client, task.name), timeout=5)  # dropped


def test_headers_body_and_method(client, make_queue, receiver):
    queue = make_queue()
    path = f"/{unique('headers')}"
    name = f"{queue}/tasks/{unique('h')}"
    task = client.create_task(
        parent=queue,
        task=http_task(
            receiver.url(path) + "?a=1",
            name,
            body=b'{"hello": "world"}',
            headers={
                "Content-Type": "application/json",
                "X-Custom": "custom-value",
                "User-Agent": "ignored",
                "X-Google-Thing": "dropped",
            },
        ),
    )
    [delivery] = wait_for(lambda: receiver.got(path))
    headers = delivery.headers
    assert delivery.method == "POST" and delivery.body == b'{"hello": "world"}'
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Custom"] == "custom-value"
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    assert "X-Google-Thing" not in headers
    assert headers["X-CloudTasks-QueueName"] == queue.rsplit("/", 1)[1]
    assert headers["X-CloudTasks-TaskName"] == name.rsplit("/", 1)[1]
    assert headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert headers["X-CloudTasks-TaskExecutionCount"] == "0"
    eta = float(headers["X-CloudTasks-TaskETA"])
    assert abs(eta - task.schedule_time.timestamp()) < 0.001
    assert "Authorization" not in headers

    get_path = f"/{unique('get')}"
    get = tasks_v2.Task(
        http_request=tasks_v2.HttpRequest(
            url=receiver.url(get_path), http_method=tasks_v2.HttpMethod.GET
        )
    )
    client.create_task(parent=queue, task=get)
    [delivery] = wait_for(lambda: receiver.got(get_path))
    assert delivery.method == "GET" and delivery.body == b""


def test_an_oidc_token_verifies_with_the_jwks(server, client, make_queue, receiver):
    queue = make_queue()
    path = f"/{unique('oidc')}"
    url = receiver.url(path)
    with_audience = http_task(url)
    with_audience.http_request.oidc_token = tasks_v2.OidcToken(
        service_account_email=SERVICE_ACCOUNT, audience="https://worker.example/tasks"
    )
    without = http_task(url)
    without.http_request.oidc_token = tasks_v2.OidcToken(service_account_email=SERVICE_ACCOUNT)
    client.create_task(parent=queue, task=with_audience)
    client.create_task(parent=queue, task=without)
    deliveries = wait_for(lambda: len(receiver.got(path)) == 2 and receiver.got(path))

    jwks = jwt.PyJWKClient(server.jwks_url)
    audiences = set()
    for delivery in deliveries:
        scheme, token = delivery.headers["Authorization"].split(" ", 1)
        assert scheme == "Bearer"
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256" and header["kid"]
        audience = jwt.decode(token, options={"verify_signature": False})["aud"]
        claims = jwt.decode(
            token,
            jwks.get_signing_key_from_jwt(token).key,
            algorithms=["RS256"],
            audience=audience,
            issuer="https://accounts.google.com",
        )
        assert claims["email"] == SERVICE_ACCOUNT and claims["sub"] == SERVICE_ACCOUNT
        assert claims["email_verified"] is True
        assert claims["exp"] - claims["iat"] == 3600
        assert abs(claims["iat"] - time.time()) < 60
        audiences.add(audience)
    assert audiences == {"https://worker.example/tasks", url}


def test_each_dispatch_is_logged_on_one_line(server, client, make_queue, receiver):
    queue = make_queue()
    path = f"/{unique('logged')}"
    task = client.create_task(parent=queue, task=http_task(receiver.url(path)))
    wait_for(lambda: receiver.got(path))
    task_id = task.name.rsplit("/", 1)[1]
    queue_id = queue.rsplit("/", 1)[1]
    pattern = re.compile(rf"dispatch task={task_id} queue={queue_id} attempt=1 status=200 ms=\d+$")
    wait_for(lambda: any(pattern.search(line) for line in list(server.lines)))


def test_the_queue_http_target_overrides_uri_headers_and_token(server, client, receiver):
    name = f"{LOCATION}/queues/{unique('target')}"
    client.create_queue(
        parent=LOCATION,
        queue=tasks_v2.Queue(
            name=name,
            http_target=tasks_v2.HttpTarget(
                uri_override=tasks_v2.UriOverride(
                    path_override=tasks_v2.PathOverride(path="/overridden-path")
                ),
                header_overrides=[
                    tasks_v2.HttpTarget.HeaderOverride(
                        header=tasks_v2.HttpTarget.Header(key="x-queue", value="from-queue")
                    )
                ],
                oidc_token=tasks_v2.OidcToken(
                    service_account_email=SERVICE_ACCOUNT, audience="queue-audience"
                ),
            ),
        ),
    )
    client.create_task(
        parent=name,
        task=http_task(receiver.url("/original-path"), headers={"X-Queue": "from-task"}),
    )
    [delivery] = wait_for(lambda: receiver.got("/overridden-path"))
    assert delivery.headers["x-queue"] == "from-queue"
    token = delivery.headers["Authorization"].split(" ", 1)[1]
    key = jwt.PyJWKClient(server.jwks_url).get_signing_key_from_jwt(token).key
    assert jwt.decode(token, key, algorithms=["RS256"], audience="queue-audience")


def test_uri_override_modes():
    mode = tasks_v2.UriOverride.UriOverrideEnforceMode
    always = tasks_v2.UriOverride.pb(
        tasks_v2.UriOverride(
            scheme=tasks_v2.UriOverride.Scheme.HTTP,
            host="example.net",
            port=8080,
            query_override=tasks_v2.QueryOverride(query_params="a=1"),
        )
    )
    assert override_uri("https://example.com/p?b=2", always) == "http://example.net:8080/p?a=1"
    if_missing = tasks_v2.UriOverride.pb(
        tasks_v2.UriOverride(
            host="example.net",
            port=8080,
            path_override=tasks_v2.PathOverride(path="x"),
            uri_override_enforce_mode=mode.IF_NOT_EXISTS,
        )
    )
    assert override_uri("https://example.com:9/p", if_missing) == "https://example.com:9/p"
    assert override_uri("https://example.com", if_missing) == "https://example.com:8080/x"
