"""A video through the real local stack: api -> Firestore -> Cloud Tasks -> worker -> media."""

from __future__ import annotations

import json
import subprocess

import httpx
import imageio_ffmpeg
from google.cloud import tasks_v2

from tests.e2e.helpers import user, wait_for

TASKS_ACCOUNT = "tasks-invoker@demo-creator.iam.gserviceaccount.com"
VIDEO = {"prompt": "a red fox running through snow", "durationSeconds": 4}


def creation(http, headers, cid):
    return http.get(f"/api/creations/{cid}", headers=headers).json()["creation"]


def tokens(http, headers):
    return http.get("/api/tokens", params={"limit": 100}, headers=headers).json()


def assert_conserved(http, headers):
    """balance == grants - debits + refunds, over the user's whole ledger."""
    body = tokens(http, headers)
    signed = {"grant": 1, "debit": -1, "refund": 1}
    assert body["balance"] == sum(signed[e["type"]] * e["amount"] for e in body["entries"])


def test_a_video_reaches_draft_and_its_media_is_a_playable_mp4(http):
    headers = user("alice")
    submitted = http.post("/api/generate/video", json=VIDEO, headers=headers)
    assert submitted.status_code == 202, submitted.text
    cid = submitted.json()["creationId"]

    done = wait_for(lambda: (c := creation(http, headers, cid))["status"] == "draft" and c)

    media = httpx.get(done["mediaUrl"], timeout=30)
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
    assert media.content[4:8] == b"ftyp"
    decoded = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "null", "-"],
        input=media.content,
        capture_output=True,
        timeout=60,
    )
    assert decoded.returncode == 0 and decoded.stderr == b""
    body = tokens(http, headers)
    assert (body["balance"], body["totalTokensSpent"]) == (90, 10)
    assert_conserved(http, headers)


def test_a_failed_generation_is_refunded(http):
    headers = user("bea")
    cid = http.post(
        "/api/generate/video", json={"prompt": "[fail] a storm"}, headers=headers
    ).json()["creationId"]

    failed = wait_for(lambda: (c := creation(http, headers, cid))["status"] == "failed" and c)

    assert failed["refunded"] is True and failed["errorCode"] == "generation_failed"
    assert [e["type"] for e in tokens(http, headers)["entries"]] == ["refund", "debit", "grant"]
    assert tokens(http, headers)["balance"] == 100
    assert_conserved(http, headers)


def test_a_start_task_delivered_many_times_starts_one_generation(http, stack):
    """Cloud Tasks delivers at least once: five deliveries of the same start step, sent at
    once by the Cloud Tasks server with valid tokens, start one generation."""
    headers = user("cat")
    prompt = f"duplicate deliveries {id(http)}"
    cid = http.post("/api/generate/video", json={"prompt": prompt}, headers=headers).json()[
        "creationId"
    ]
    client = stack.tasks.client()
    for n in range(5):
        client.create_task(
            parent=stack.queue_path,
            task=tasks_v2.Task(
                name=f"{stack.queue_path}/tasks/dup-{cid}-{n}",
                http_request=tasks_v2.HttpRequest(
                    http_method=tasks_v2.HttpMethod.POST,
                    url=f"{stack.worker_url}/tasks/video",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"creationId": cid, "step": "start", "seq": 0}).encode(),
                    oidc_token=tasks_v2.OidcToken(service_account_email=TASKS_ACCOUNT),
                ),
            ),
        )

    done = wait_for(lambda: (c := creation(http, headers, cid))["status"] == "draft" and c)
    operations = [
        p
        for p in (stack.state_dir / "generator" / "operations").glob("*.json")
        if prompt in p.read_text()
    ]
    assert len(operations) == 1
    assert done["mediaUrl"]
    assert tokens(http, headers)["balance"] == 90


def test_the_worker_refuses_a_caller_without_a_cloud_tasks_token(http, stack):
    headers = user("fin")
    cid = http.post("/api/generate/video", json=VIDEO, headers=headers).json()["creationId"]
    step = {"creationId": cid, "step": "poll", "seq": 999}
    for auth in ({}, {"Authorization": "Bearer not-a-token"}):
        response = httpx.post(f"{stack.worker_url}/tasks/video", json=step, headers=auth)
        assert response.status_code == 401
    assert httpx.post(f"{stack.worker_url}/tasks/reconcile", json={}).status_code == 401


def test_someone_elses_creation_is_404(http):
    owner = user("dee")
    cid = http.post("/api/generate/video", json=VIDEO, headers=owner).json()["creationId"]
    assert http.get(f"/api/creations/{cid}", headers=user("eve")).status_code == 404


def test_the_reconcile_sweep_is_delivered_with_a_token_and_runs(stack):
    log = stack.state_dir / "worker.log"
    before = log.read_text().count("reconcile.swept")
    stack.schedule_reconcile()
    wait_for(lambda: log.read_text().count("reconcile.swept") > before, timeout=20)
