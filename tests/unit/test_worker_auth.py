"""The worker runs nothing for a caller that is not Cloud Tasks (or the scheduler)."""

from __future__ import annotations

import pytest

from functions import worker
from shared.domain.creation import Status
from shared.domain.errors import Forbidden, IdentityUnavailable, Unauthenticated
from shared.services.videos import VideoOrder, submit_video


class FakeTaskAuth:
    """Accepts `Bearer good`; `Bearer other` is a valid token for someone else."""

    def __init__(self) -> None:
        self.down = False

    def verify(self, authorization: str | None) -> str:
        if self.down:
            raise IdentityUnavailable("keys")
        if authorization == "Bearer good":
            return "tasks@p.iam.gserviceaccount.com"
        if authorization == "Bearer other":
            raise Forbidden("someone else")
        raise Unauthenticated("no")


@pytest.fixture
def client(deps):
    deps.task_auth = FakeTaskAuth()
    return worker.create_app(deps).test_client()


@pytest.fixture
def pending(deps):
    accepted = submit_video(deps, "ann", VideoOrder("a fox", {}))
    deps.queue.take()
    return accepted.creation.id


@pytest.mark.parametrize(
    ("header", "status"), [(None, 401), ("Bearer forged", 401), ("Bearer other", 403)]
)
def test_a_caller_without_a_valid_token_changes_nothing(client, deps, pending, header, status):
    headers = {"Authorization": header} if header else {}
    for path in ("/tasks/video", "/tasks/reconcile"):
        body = {"creationId": pending, "step": "start", "seq": 0}
        assert client.post(path, json=body, headers=headers).status_code == status
    assert deps.store.get_creation(pending).status is Status.PENDING
    assert deps.videos.started == []


def test_cloud_tasks_with_a_valid_token_runs_the_step(client, deps, pending):
    body = {"creationId": pending, "step": "start", "seq": 0}
    response = client.post("/tasks/video", json=body, headers={"Authorization": "Bearer good"})
    assert response.status_code == 200
    assert deps.store.get_creation(pending).status is Status.PROCESSING


def test_unreachable_keys_ask_cloud_tasks_to_retry(client, deps, pending):
    deps.task_auth.down = True
    body = {"creationId": pending, "step": "start", "seq": 0}
    response = client.post("/tasks/video", json=body, headers={"Authorization": "Bearer good"})
    assert response.status_code == 503
    assert deps.store.get_creation(pending).status is Status.PENDING
