"""Cancel, end to end, with the Cloud Tasks permissions that Terraform grants.

The stack's Cloud Tasks server enforces the policy read from terraform/ (as `make dev`
starts it), and the api presents its production service account. Cancel deletes the
creation's start task (DeleteTask, cloudtasks.tasks.delete): with the real terraform/ the
task is gone; with a copy of terraform/ that lacks the permission the call is denied, the
api logs `queue.permission_denied` naming it, and the task is left behind, which is what
production did before the grant (issue 17).

Deliveries go to a worker that always answers 503, so each video stays `pending` (Cloud
Tasks keeps retrying) until it is cancelled.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from google.api_core import exceptions as gexc

from devtools.processes import free_port
from devtools.stack import ROOT, LocalStack
from tests.e2e.helpers import STACK_SETTINGS, user, wait_for
from tests.stacks import quiet_stack

DELETE = '    "cloudtasks.tasks.delete",\n'


class _Busy(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def held_stack(tmp_path_factory) -> Iterator[LocalStack]:
    busy = ThreadingHTTPServer(("127.0.0.1", free_port()), _Busy)
    busy.daemon_threads = True
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    settings = {
        **STACK_SETTINGS,
        "WORKER_URL": f"http://127.0.0.1:{busy.server_address[1]}",
        "VIDEO_DEADLINE_SECONDS": "600",  # nothing here waits for it; fits any poll pace
    }
    try:
        with quiet_stack(tmp_path_factory.mktemp("cancel-stack"), settings) as stack:
            yield stack
    finally:
        busy.shutdown()
        busy.server_close()


def terraform_without_delete(tmp_path: Path) -> Path:
    """A copy of terraform/ whose api lacks cloudtasks.tasks.delete."""
    copy = tmp_path / "terraform"
    shutil.copytree(ROOT / "terraform", copy, ignore=shutil.ignore_patterns(".terraform*"))
    identities = copy / "identities.tf"
    text = identities.read_text()
    assert text.count(DELETE) == 1, "the grant this test removes has moved"
    identities.write_text(text.replace(DELETE, ""))
    return copy


def with_policy(stack: LocalStack, terraform: Path) -> None:
    """Restart the stack's Cloud Tasks server with the policy of `terraform` (state kept)."""
    if stack.tasks is not None and stack.iam_from == terraform:
        return
    stack.stop_tasks_server()
    stack.iam_from = terraform
    stack.start_tasks_server(fresh=False)


def submit_and_cancel(stack: LocalStack) -> tuple[str, dict]:
    headers = user("cancel-iam")
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:

        def accepted() -> httpx.Response | None:
            answer = http.post(
                "/api/generate/video",
                json={"prompt": "a video to cancel", "durationSeconds": 4},
                headers=headers,
            )
            return answer if answer.status_code == 202 else None  # the gate may be re-checking

        creation_id = wait_for(accepted).json()["creationId"]
        start_task = f"{stack.start_queue_path}/tasks/{creation_id}-start-0"
        assert stack.tasks is not None
        stack.tasks.client().get_task(name=start_task)  # queued, held by the busy worker
        answer = http.post(f"/api/creations/{creation_id}/cancel", headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["creation"]["status"] == "cancelled"
    assert body["refunded"] is True and body["cancelledNow"] is True
    return start_task, body


def task_exists(stack: LocalStack, name: str) -> bool:
    assert stack.tasks is not None
    try:
        stack.tasks.client().get_task(name=name)
    except gexc.NotFound:
        return False
    return True


def api_log(stack: LocalStack) -> str:
    return (stack.state_dir / "api.log").read_text()


def test_cancel_deletes_the_start_task_with_the_permissions_terraform_grants(held_stack):
    with_policy(held_stack, ROOT / "terraform")
    start_task, _ = submit_and_cancel(held_stack)
    assert not task_exists(held_stack, start_task)
    creation = start_task.rsplit("/", 1)[1].removesuffix("-start-0")
    assert f"video.cancel_task_left creationId={creation}" not in api_log(held_stack)


def test_without_the_delete_permission_cancel_is_denied_and_says_so(held_stack, tmp_path):
    with_policy(held_stack, terraform_without_delete(tmp_path))
    try:
        start_task, _ = submit_and_cancel(held_stack)
        assert task_exists(held_stack, start_task)  # left behind, as in production
        creation = start_task.rsplit("/", 1)[1].removesuffix("-start-0")
        log = api_log(held_stack)
        assert "queue.permission_denied rpc=DeleteTask permission=cloudtasks.tasks.delete" in log
        assert f"video.cancel_task_left creationId={creation}" in log
        assert "queueErrorCode=queue_permission_denied" in log
    finally:
        with_policy(held_stack, ROOT / "terraform")
