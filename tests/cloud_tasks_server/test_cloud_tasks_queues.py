"""Queue RPCs of the local Cloud Tasks server, through the real client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from tests.cloud_tasks_server.tasks_server_helpers import CONFIG_QUEUE, LOCATION, http_task, unique

State = tasks_v2.Queue.State


def test_a_configured_queue_exists_at_start_with_the_service_defaults(client):
    queue = client.get_queue(name=CONFIG_QUEUE)
    assert queue.name == CONFIG_QUEUE
    assert queue.state == State.RUNNING
    assert queue.rate_limits.max_dispatches_per_second == 500
    assert queue.rate_limits.max_concurrent_dispatches == 1000
    assert queue.rate_limits.max_burst_size == 100
    retry = queue.retry_config
    assert retry.max_attempts == 100
    assert retry.min_backoff == timedelta(seconds=0.1)
    assert retry.max_backoff == timedelta(seconds=3600)
    assert retry.max_doublings == 16


def test_create_get_and_already_exists(client):
    name = f"{LOCATION}/queues/{unique('create')}"
    created = client.create_queue(
        parent=LOCATION,
        queue=tasks_v2.Queue(
            name=name,
            rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=5),
            retry_config=tasks_v2.RetryConfig(max_attempts=3),
        ),
    )
    assert created.state == State.RUNNING
    assert created.rate_limits.max_dispatches_per_second == 5
    assert created.rate_limits.max_burst_size == 5
    assert created.rate_limits.max_concurrent_dispatches == 1000
    assert created.retry_config.max_attempts == 3
    assert client.get_queue(name=name) == created
    with pytest.raises(gexc.AlreadyExists):
        client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=name))


def test_get_missing_queue_is_not_found(client):
    with pytest.raises(gexc.NotFound):
        client.get_queue(name=f"{LOCATION}/queues/no-such-queue")


@pytest.mark.parametrize(
    "name",
    [
        f"{LOCATION}/queues/bad_underscore",
        f"{LOCATION}/queues/" + "q" * 101,
        "projects/p/queues/q",
        f"{LOCATION}/queues/",
    ],
)
def test_invalid_queue_names_are_invalid_argument(client, name):
    with pytest.raises(gexc.InvalidArgument):
        client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=name))


def test_a_queue_outside_its_parent_or_with_bad_limits_is_invalid(client):
    with pytest.raises(gexc.InvalidArgument):
        client.create_queue(
            parent="projects/other/locations/x",
            queue=tasks_v2.Queue(name=f"{LOCATION}/queues/{unique('q')}"),
        )
    with pytest.raises(gexc.InvalidArgument):
        client.create_queue(
            parent=LOCATION,
            queue=tasks_v2.Queue(
                name=f"{LOCATION}/queues/{unique('q')}",
                rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=501),
            ),
        )


def test_list_queues_pages(client):
    location = f"projects/{unique('listing')}/locations/europe-west1"
    created = sorted(f"{location}/queues/q{i}" for i in range(5))
    for name in created:
        client.create_queue(parent=location, queue=tasks_v2.Queue(name=name))

    pager = client.list_queues(request={"parent": location, "page_size": 2})
    pages = list(pager.pages)
    assert [len(page.queues) for page in pages] == [2, 2, 1]
    assert [q.name for page in pages for q in page.queues] == created

    client.pause_queue(name=created[1])
    paused = client.list_queues(request={"parent": location, "filter": "state: PAUSED"})
    assert [q.name for q in paused] == [created[1]]
    with pytest.raises(gexc.InvalidArgument):
        client.list_queues(request={"parent": location, "page_token": "%%%"})


def test_update_queue_honours_the_update_mask(client, make_queue):
    name = make_queue(
        rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=7, max_concurrent_dispatches=3),
        retry_config=tasks_v2.RetryConfig(max_attempts=5, min_backoff=timedelta(seconds=1)),
    )
    updated = client.update_queue(
        queue=tasks_v2.Queue(
            name=name,
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=9, max_concurrent_dispatches=4
            ),
            retry_config=tasks_v2.RetryConfig(max_attempts=8),
        ),
        update_mask=field_mask_pb2.FieldMask(
            paths=["rate_limits.max_concurrent_dispatches", "retry_config.max_attempts"]
        ),
    )
    assert updated.rate_limits.max_concurrent_dispatches == 4
    assert updated.rate_limits.max_dispatches_per_second == 7  # not in the mask
    assert updated.retry_config.max_attempts == 8
    assert updated.retry_config.min_backoff == timedelta(seconds=1)  # kept
    assert client.get_queue(name=name) == updated

    # A whole message in the mask replaces it: what is unset takes the defaults.
    replaced = client.update_queue(
        queue=tasks_v2.Queue(
            name=name, retry_config=tasks_v2.RetryConfig(max_backoff=timedelta(seconds=60))
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config"]),
    )
    assert replaced.retry_config.max_backoff == timedelta(seconds=60)
    assert replaced.retry_config.max_attempts == 100
    assert replaced.rate_limits.max_concurrent_dispatches == 4

    with pytest.raises(gexc.InvalidArgument):
        client.update_queue(
            queue=tasks_v2.Queue(name=name),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
    with pytest.raises(gexc.InvalidArgument):
        client.update_queue(
            queue=tasks_v2.Queue(name=name),
            update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.no_such_field"]),
        )


def test_update_queue_without_a_mask_creates_a_missing_queue(client):
    name = f"{LOCATION}/queues/{unique('upsert')}"
    queue = client.update_queue(
        queue=tasks_v2.Queue(
            name=name, rate_limits=tasks_v2.RateLimits(max_concurrent_dispatches=2)
        )
    )
    assert queue.state == State.RUNNING
    assert queue.rate_limits.max_concurrent_dispatches == 2
    assert client.get_queue(name=name).rate_limits.max_concurrent_dispatches == 2


def test_pause_resume_purge_delete(client, make_queue, receiver):
    name = make_queue()
    assert client.pause_queue(name=name).state == State.PAUSED
    assert client.get_queue(name=name).state == State.PAUSED
    # CreateTask in a paused queue succeeds, as in the real service.
    task = client.create_task(parent=name, task=http_task(receiver.url("/held")))
    assert client.resume_queue(name=name).state == State.RUNNING

    client.pause_queue(name=name)
    client.create_task(parent=name, task=http_task(receiver.url("/held")))
    purged = client.purge_queue(name=name)
    assert purged.purge_time.timestamp() > 0
    assert list(client.list_tasks(parent=name)) == []
    with pytest.raises(gexc.NotFound):
        client.get_task(name=task.name)

    client.delete_queue(name=name)
    with pytest.raises(gexc.NotFound):
        client.get_queue(name=name)
    with pytest.raises(gexc.NotFound):
        client.delete_queue(name=name)
    with pytest.raises(gexc.NotFound):
        client.pause_queue(name=name)
    with pytest.raises(gexc.NotFound):
        client.purge_queue(name=name)
