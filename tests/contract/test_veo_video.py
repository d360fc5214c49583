"""The Veo adapter through the real google-genai SDK, against the local fake (tests/servers).

google-genai 3.4.0 generates videos on Vertex AI only, so start→poll runs in Vertex mode
(project/location, a fixed Bearer token); Gemini API mode is covered for what the SDK can do
there: polling an operation and downloading its file, and refusing to start.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devtools.processes import free_port
from shared.adapters.genai_client import genai_client_factory
from shared.adapters.veo_video import VeoVideoGenerator
from shared.config import DEFAULT_VIDEO_MODEL
from shared.domain.errors import GenerationError
from shared.ports import VideoSpec
from tests.servers.fake_gemini import API_KEY, TOKEN, FakeGemini, VideoScript, fake_mp4

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PROJECT, LOCATION = "demo-project", "us-central1"
SPEC = VideoSpec(
    prompt="A paper boat sailing down a rainy street",
    aspect_ratio="9:16",
    duration_seconds=6,
    resolution="1080p",
    negative_prompt="people, text",
)


def _token():
    from google.oauth2.credentials import Credentials

    return Credentials(token=TOKEN)


def vertex_factory(base_url: str, timeout_seconds: float = 5):
    return genai_client_factory(
        api_key=None,
        vertex_project=PROJECT,
        vertex_location=LOCATION,
        base_url=base_url,
        timeout_seconds=timeout_seconds,
        credentials=_token(),
    )


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def veo(server: FakeGemini) -> VeoVideoGenerator:
    return VeoVideoGenerator(vertex_factory(server.base_url), vertex=True)


@pytest.fixture(scope="module")
def gemini_api_veo(server: FakeGemini) -> VeoVideoGenerator:
    factory = genai_client_factory(
        api_key=API_KEY, vertex_project=None, vertex_location=None, base_url=server.base_url,
        timeout_seconds=5,
    )  # fmt: skip
    return VeoVideoGenerator(factory, "veo-3.1-generate-preview")


def expect_error(call, code: str, *, transient: bool) -> GenerationError:
    with pytest.raises(GenerationError) as info:
        call()
    assert (info.value.code, info.value.transient) == (code, transient), info.value
    return info.value


# -- start -----------------------------------------------------------------------------------


def test_start_sends_the_spec_and_returns_the_operation_name_at_once(fake, veo):
    fake.video = VideoScript(pending_polls=100)
    name = veo.start(SPEC)

    model_path = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/"
    assert name.startswith(f"{model_path}{DEFAULT_VIDEO_MODEL}/operations/")
    assert [r.path for r in fake.requests] == [  # one request; start never polls
        f"/v1beta1/{model_path}{DEFAULT_VIDEO_MODEL}:predictLongRunning"
    ]
    sent = fake.requests[0]
    assert sent.json == {
        "instances": [{"prompt": SPEC.prompt}],
        "parameters": {
            "sampleCount": 1,
            "aspectRatio": "9:16",
            "durationSeconds": 6,
            "resolution": "1080p",
            "negativePrompt": "people, text",
            "generateAudio": True,
        },
    }
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in sent.headers
    assert sent.headers["x-server-timeout"] == "5"


def test_start_leaves_out_an_empty_negative_prompt(fake, veo):
    veo.start(VideoSpec(prompt="A calm lake"))
    parameters = fake.requests[0].json["parameters"]
    assert "negativePrompt" not in parameters
    assert parameters["aspectRatio"] == "16:9" and parameters["durationSeconds"] == 8


# -- poll ------------------------------------------------------------------------------------


def test_polls_report_progress_then_the_video_bytes(fake, veo):
    video = fake_mp4(b"frames of a paper boat")
    fake.video = VideoScript(pending_polls=3, progress_step=30, video=video)
    name = veo.start(SPEC)

    progress = [veo.poll(name) for _ in range(3)]
    assert [(s.done, s.progress) for s in progress] == [(False, 30), (False, 60), (False, 90)]
    status = veo.poll(name)
    assert status.done and status.error_code is None
    assert status.media is not None
    assert status.media.data == video and status.media.data[4:8] == b"ftyp"
    assert (status.media.content_type, status.media.extension) == ("video/mp4", "mp4")

    polls = fake.requests_to("poll")
    assert len(polls) == 4
    resource = name.rpartition("/operations/")[0]
    assert polls[0].path == f"/v1beta1/{resource}:fetchPredictOperation"
    assert polls[0].json == {"operationName": name}


def test_progress_is_zero_without_metadata(fake, veo):
    fake.video = VideoScript(pending_polls=1, progress_step=None)
    name = veo.start(SPEC)
    status = veo.poll(name)
    assert (status.done, status.progress) == (False, 0)
    assert veo.poll(name).media is not None


def test_a_filtered_video_is_content_filtered(fake, veo):
    reason = "The prompt could not be submitted: it violates the usage guidelines."
    fake.video = VideoScript(pending_polls=0, outcome="filtered", filtered_reasons=[reason])
    status = veo.poll(veo.start(SPEC))
    assert status.done and status.media is None
    assert status.error_code == "content_filtered"
    assert reason in (status.error_message or "")


def test_an_operation_error_is_generation_failed_with_a_short_message(fake, veo):
    message = "Internal error while generating the video. " * 20
    fake.video = VideoScript(
        pending_polls=1, outcome="error", error={"code": 13, "message": message}
    )
    name = veo.start(SPEC)
    assert not veo.poll(name).done
    status = veo.poll(name)
    assert status.done and status.media is None
    assert status.error_code == "generation_failed"
    assert status.error_message and status.error_message.startswith("Internal error")
    assert len(status.error_message) <= 300


def test_done_without_a_video_or_a_filter_is_generation_failed(fake, veo):
    fake.video = VideoScript(pending_polls=0, outcome="empty")
    status = veo.poll(veo.start(SPEC))
    assert (status.done, status.error_code) == (True, "generation_failed")


def test_a_video_left_in_cloud_storage_is_unsupported(fake, veo):
    fake.video = VideoScript(pending_polls=0, outcome="gcs_uri")
    error = expect_error(lambda: veo.poll(veo.start(SPEC)), "unsupported_output", transient=False)
    assert "gs://" in error.message


def test_an_unknown_operation_is_operation_not_found(fake, veo):
    name = veo.start(SPEC).rpartition("/operations/")[0] + "/operations/no-such-operation"
    expect_error(lambda: veo.poll(name), "operation_not_found", transient=False)


def test_a_malformed_operation_name_is_refused_without_a_request(fake, veo):
    expect_error(lambda: veo.poll("local-operations/abc"), "operation_not_found", transient=False)
    assert fake.requests == []


# -- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["start", "poll"])
def test_a_500_is_transient_and_the_next_call_succeeds(fake, veo, route):
    fake.video = VideoScript(pending_polls=0)
    name = veo.start(SPEC) if route == "poll" else None
    fake.fail(route, 500)
    call = (lambda: veo.start(SPEC)) if route == "start" else (lambda: veo.poll(name))
    error = expect_error(call, "generator_unavailable", transient=True)
    assert not error.not_started  # a 500 may have run: the worker never starts again
    assert len(fake.requests_to(route)) == 1  # the SDK does not retry by itself
    result = call()
    assert result if route == "start" else result.media is not None


@pytest.mark.parametrize("route", ["start", "poll"])
def test_a_429_is_transient(fake, veo, route):
    name = veo.start(SPEC)
    fake.fail(route, 429)
    call = (lambda: veo.start(SPEC)) if route == "start" else (lambda: veo.poll(name))
    assert expect_error(call, "generator_rate_limited", transient=True).not_started


@pytest.mark.parametrize("status", [400, 403])
def test_a_4xx_on_start_is_permanent(fake, veo, status):
    fake.fail("start", status, message="Unsupported resolution for this model.")
    error = expect_error(lambda: veo.start(SPEC), "generation_rejected", transient=False)
    assert str(status) in error.message


def test_a_bad_token_is_permanent(fake):
    from google.oauth2.credentials import Credentials

    wrong = Credentials(token="ya29.wrong-token-value")  # noqa: S106 - a fake token
    factory = genai_client_factory(
        api_key=None, vertex_project=PROJECT, vertex_location=LOCATION, base_url=fake.base_url,
        timeout_seconds=5, credentials=wrong,
    )  # fmt: skip
    error = expect_error(
        lambda: VeoVideoGenerator(factory, vertex=True).start(SPEC),
        "generation_rejected",
        transient=False,
    )
    assert "ya29.wrong" not in error.message and "401" in error.message


def test_a_server_that_is_down_is_transient_and_fails_fast():
    veo = VeoVideoGenerator(vertex_factory(closed_port_url(), timeout_seconds=2), vertex=True)
    started = time.monotonic()
    refused = expect_error(lambda: veo.start(SPEC), "generator_unavailable", transient=True)
    assert refused.not_started  # no connection: it cannot have started anything
    name = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/m/operations/1"
    expect_error(lambda: veo.poll(name), "generator_unavailable", transient=True)
    assert time.monotonic() - started < 5


def test_a_hanging_server_times_out_as_transient(fake):
    fake.delay("start", 3)
    veo = VeoVideoGenerator(vertex_factory(fake.base_url, timeout_seconds=0.5), vertex=True)
    started = time.monotonic()
    timed_out = expect_error(lambda: veo.start(SPEC), "generator_unavailable", transient=True)
    assert not timed_out.not_started  # it may be running: never started twice
    assert time.monotonic() - started < 2.5


# -- Gemini Developer API mode ---------------------------------------------------------------


def test_gemini_api_start_is_refused_by_the_sdk_as_a_configuration_error(fake, gemini_api_veo):
    error = expect_error(
        lambda: gemini_api_veo.start(SPEC), "generator_misconfigured", transient=False
    )
    assert "Agent Platform" in error.message
    assert fake.requests == []


def test_gemini_api_poll_downloads_the_video_file(fake, gemini_api_veo):
    video = fake_mp4(b"a gemini api video")
    name = fake.add_operation(VideoScript(pending_polls=1, video=video))
    assert gemini_api_veo.poll(name).progress == 30
    status = gemini_api_veo.poll(name)
    assert status.media is not None and status.media.data == video

    first_poll, _, download = fake.requests
    assert (first_poll.method, first_poll.path) == ("GET", f"/v1/{name}")
    assert download.method == "GET" and download.path.endswith(":download")
    assert download.path.startswith("/v1/files/") and download.query == {"alt": ["media"]}
    assert {r.headers["x-goog-api-key"] for r in fake.requests} == {API_KEY}


def test_gemini_api_filtered_and_expired_files(fake, gemini_api_veo):
    filtered = fake.add_operation(VideoScript(pending_polls=0, outcome="filtered"))
    assert gemini_api_veo.poll(filtered).error_code == "content_filtered"

    name = fake.add_operation(VideoScript(pending_polls=0))
    fake.fail("download", 500)
    expect_error(lambda: gemini_api_veo.poll(name), "generator_unavailable", transient=True)
    fake.fail("download", 404)
    expect_error(lambda: gemini_api_veo.poll(name), "output_expired", transient=False)
    assert gemini_api_veo.poll(name).media is not None


def test_an_unknown_gemini_api_operation_is_operation_not_found(fake, gemini_api_veo):
    expect_error(
        lambda: gemini_api_veo.poll("models/veo-3.1-generate-preview/operations/nope"),
        "operation_not_found",
        transient=False,
    )


# -- configuration ---------------------------------------------------------------------------


def test_a_client_of_the_other_backend_is_a_configuration_error(fake):
    vertex_client = vertex_factory(fake.base_url)
    veo = VeoVideoGenerator(vertex_client, vertex=False)
    expect_error(lambda: veo.start(SPEC), "generator_misconfigured", transient=False)
    assert fake.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": None, "vertex_project": None, "vertex_location": None},
        {"api_key": "k", "vertex_project": "p", "vertex_location": "l"},
        {"api_key": "k", "vertex_project": None, "vertex_location": None, "credentials": object()},
    ],
)
def test_the_factory_wants_exactly_one_backend(kwargs):
    with pytest.raises(ValueError):
        genai_client_factory(**kwargs)


def test_the_factory_builds_one_client_lazily_even_under_concurrency():
    factory = genai_client_factory(
        api_key=None, vertex_project="p", vertex_location="europe-west4", credentials=_token()
    )
    clients: list[object] = []
    threads = [threading.Thread(target=lambda: clients.append(factory())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in clients}) == 1
    client = clients[0]
    assert client.vertexai is True  # built without network: no ADC lookup when a project is set
    assert client._api_client.project == "p" and client._api_client.location == "europe-west4"
    assert client._api_client._http_options.retry_options.attempts == 1


def test_the_factory_builds_a_gemini_api_client():
    client = genai_client_factory(api_key=API_KEY, vertex_project=None, vertex_location=None)()
    assert client.vertexai is False
    assert client._api_client._http_options.headers["x-goog-api-key"] == API_KEY
    assert client._api_client._http_options.timeout == 60_000


def test_importing_the_adapters_does_not_import_google_genai():
    code = (
        "import sys, shared.adapters.veo_video, shared.adapters.gemini_image, "
        "shared.adapters.genai_client; print('google.genai' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
