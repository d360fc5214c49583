"""The production adapters, wired by configuration into the running stack: media in an
S3-speaking server (moto, standing in for R2) and images from a server speaking the Gemini
API (standing in for Google). Proves the wiring, the URLs and that no secret is logged."""

from __future__ import annotations

import io

import boto3
import httpx
import pytest
from PIL import Image

from devtools.processes import free_port
from devtools.stack import LocalStack, Ports
from tests.e2e.helpers import STACK_SETTINGS, user, wait_for
from tests.servers.fake_gemini import API_KEY, FakeGemini

BUCKET = "creator-media"
R2_KEY_ID = "e2e-access-key-id"
R2_SECRET = "e2e-secret-access-key-do-not-log"  # noqa: S105 - a fake, looked for in the logs


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=R2_KEY_ID,
        aws_secret_access_key=R2_SECRET,
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def gemini():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory, s3_endpoint, gemini):
    settings = {
        **STACK_SETTINGS,
        "MEDIA_STORAGE": "r2",
        "R2_ENDPOINT_URL": s3_endpoint,
        "R2_ACCESS_KEY_ID": R2_KEY_ID,
        "R2_SECRET_ACCESS_KEY": R2_SECRET,
        "R2_BUCKET": BUCKET,
        "IMAGE_GENERATOR": "gemini",
        "GENAI_BACKEND": "gemini-api",
        "GEMINI_API_KEY": API_KEY,
        "GENAI_BASE_URL": gemini.base_url,
    }
    ports = Ports(*(free_port() for _ in range(5)))
    state_dir = tmp_path_factory.mktemp("prod-stack")
    with LocalStack(ports=ports, state_dir=state_dir, settings=settings, quiet=True) as running:
        yield running


@pytest.fixture
def http(prod_stack):
    with httpx.Client(base_url=prod_stack.api_url, timeout=30) as client:
        yield client


def test_an_image_from_the_gemini_api_lands_in_the_bucket_behind_a_presigned_url(http, gemini):
    headers = user("ivy")
    response = http.post(
        "/api/generate/image",
        json={"prompt": "a lighthouse", "aspectRatio": "16:9"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "draft" and body["balance"] == 99
    url = body["mediaUrl"]
    assert f"/{BUCKET}/images/" in url and "X-Amz-Signature=" in url
    fetched = httpx.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).format == "PNG"
    [sent] = gemini.requests_to("image")
    assert sent.json["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"
    assert sent.headers.get("x-goog-api-key") == API_KEY


def test_a_video_lands_in_the_bucket_and_plays_from_its_url(http):
    headers = user("jay")
    cid = http.post(
        "/api/generate/video", json={"prompt": "waves", "durationSeconds": 4}, headers=headers
    ).json()["creationId"]
    done = wait_for(
        lambda: (
            (c := http.get(f"/api/creations/{cid}", headers=headers).json()["creation"])["status"]
            == "draft"
            and c
        )
    )
    fetched = httpx.get(done["mediaUrl"], timeout=10)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "video/mp4"
    assert fetched.content[4:8] == b"ftyp"


def test_health_reports_the_bucket_and_no_log_line_holds_a_secret(http, prod_stack):
    health = http.get("/api/health").json()
    assert health["checks"]["media"] == "ok"
    logs = "".join((prod_stack.state_dir / f"{name}.log").read_text() for name in ("api", "worker"))
    assert "image.completed" in logs and "task.step" in logs
    assert R2_SECRET not in logs and API_KEY not in logs
