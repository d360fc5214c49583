"""A video through the real local stack: api -> Firestore -> Cloud Tasks -> worker -> media."""

from __future__ import annotations

import subprocess
import threading

import httpx
import imageio_ffmpeg

from tests.e2e.conftest import user, wait_for

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
    headers = user("cat")
    prompt = f"duplicate deliveries {id(http)}"
    cid = http.post("/api/generate/video", json={"prompt": prompt}, headers=headers).json()[
        "creationId"
    ]
    answers: list[int] = []

    def deliver() -> None:
        response = httpx.post(
            f"{stack.worker_url}/tasks/video",
            timeout=30,
            json={"creationId": cid, "step": "start", "seq": 0},
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    done = wait_for(lambda: (c := creation(http, headers, cid))["status"] == "draft" and c)
    operations = [
        p
        for p in (stack.state_dir / "generator" / "operations").glob("*.json")
        if prompt in p.read_text()
    ]
    assert len(operations) == 1
    assert set(answers) <= {200, 503}
    assert done["mediaUrl"]
    assert tokens(http, headers)["balance"] == 90


def test_someone_elses_creation_is_404(http):
    owner = user("dee")
    cid = http.post("/api/generate/video", json=VIDEO, headers=owner).json()["creationId"]
    assert http.get(f"/api/creations/{cid}", headers=user("eve")).status_code == 404
