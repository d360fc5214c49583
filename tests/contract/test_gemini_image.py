"""The Gemini image adapter through the real google-genai SDK, against the local fake server."""

from __future__ import annotations

import io
import time
import warnings

import pytest

from devtools.processes import free_port
from shared.adapters.gemini_image import GeminiImageGenerator, finish_outcomes
from shared.adapters.genai_client import genai_client_factory
from shared.config import DEFAULT_IMAGE_MODEL
from shared.domain.errors import GenerationError
from tests.servers.fake_gemini import API_KEY, TOKEN, FakeGemini, ImageScript

pytestmark = pytest.mark.timeout(60)

PROMPT = "A watercolor fox in a snowy forest"


def gemini_api_factory(base_url: str, *, api_key: str = API_KEY, timeout_seconds: float = 5):
    return genai_client_factory(
        api_key=api_key, vertex_project=None, vertex_location=None, base_url=base_url,
        timeout_seconds=timeout_seconds,
    )  # fmt: skip


@pytest.fixture(scope="module")
def images(server: FakeGemini) -> GeminiImageGenerator:
    return GeminiImageGenerator(gemini_api_factory(server.base_url))


def expect_error(call, code: str, *, transient: bool) -> GenerationError:
    with pytest.raises(GenerationError) as info:
        call()
    assert (info.value.code, info.value.transient) == (code, transient), info.value
    return info.value


def open_image(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_an_image_comes_back_as_png_in_the_asked_aspect_ratio(fake, images):
    media = images.generate(PROMPT, aspect_ratio="16:9")
    assert (media.content_type, media.extension) == ("image/png", "png")
    image = open_image(media.data)
    assert image.format == "PNG" and image.size == (96, 54)

    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", f"/v1/models/{DEFAULT_IMAGE_MODEL}:generateContent")
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9"},
        },
    }


def test_the_default_aspect_ratio_is_square(fake, images):
    media = images.generate(PROMPT)
    assert open_image(media.data).size == (96, 96)
    assert fake.requests[0].json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


@pytest.mark.parametrize(
    ("mime_type", "extension", "pil_format"),
    [("image/jpeg", "jpeg", "JPEG"), ("image/webp", "webp", "WEBP")],
)
def test_the_extension_follows_the_mime_type(fake, images, mime_type, extension, pil_format):
    fake.image = ImageScript(mime_type=mime_type)
    media = images.generate(PROMPT, "3:4")
    assert (media.content_type, media.extension) == (mime_type, extension)
    assert open_image(media.data).format == pil_format


@pytest.mark.parametrize("mime_type", ["image/svg+xml", "image/vnd.microsoft.icon", "video/mp4"])
def test_data_of_a_type_we_do_not_store_is_unsupported_output(fake, images, mime_type):
    fake.image = ImageScript(mime_type=mime_type)
    error = expect_error(lambda: images.generate(PROMPT), "unsupported_output", transient=False)
    assert mime_type in error.message


@pytest.mark.parametrize(
    "reason",
    ["PROHIBITED_CONTENT", "SAFETY", "BLOCKLIST", "IMAGE_SAFETY", "OTHER", "JAILBREAK"],
)
def test_a_blocked_prompt_is_content_filtered(fake, images, reason):
    fake.image = ImageScript(outcome="blocked_prompt", block_reason=reason)
    error = expect_error(lambda: images.generate(PROMPT), "content_filtered", transient=False)
    assert f"prompt blocked ({reason})" in error.message


@pytest.mark.parametrize(
    ("reason", "code", "transient"),
    [
        # only safety and policy filters are content_filtered (422)
        ("SAFETY", "content_filtered", False),
        ("IMAGE_SAFETY", "content_filtered", False),
        ("PROHIBITED_CONTENT", "content_filtered", False),
        ("IMAGE_PROHIBITED_CONTENT", "content_filtered", False),
        ("BLOCKLIST", "content_filtered", False),
        ("SPII", "content_filtered", False),
        ("RECITATION", "content_filtered", False),
        ("IMAGE_RECITATION", "content_filtered", False),
        # the model finished and did not draw: permanent, but not a filter
        ("STOP", "generation_failed", False),
        ("NO_IMAGE", "generation_failed", False),
        ("LANGUAGE", "generation_failed", False),
        ("MISSING_THOUGHT_SIGNATURE", "generator_misconfigured", False),
        # cut short or unexplained: a retry may help
        ("MAX_TOKENS", "generator_bad_response", True),
        ("OTHER", "generator_bad_response", True),
        ("IMAGE_OTHER", "generator_bad_response", True),
        ("MALFORMED_RESPONSE", "generator_bad_response", True),
        ("FINISH_REASON_UNSPECIFIED", "generator_bad_response", True),
        ("A_REASON_FROM_THE_FUTURE", "generator_bad_response", True),
    ],
)
def test_a_candidate_without_an_image_fails_by_its_finish_reason(
    fake, images, reason, code, transient
):
    fake.image = ImageScript(outcome="stopped", finish_reason=reason)
    with warnings.catch_warnings():  # the SDK warns about the unknown enum value
        warnings.simplefilter("ignore")
        error = expect_error(lambda: images.generate(PROMPT), code, transient=transient)
    assert f"finish reason {reason}" in error.message


def test_the_models_words_go_into_the_message_not_into_the_code(fake, images):
    fake.image = ImageScript(outcome="stopped", text="I cannot create images of that.")
    error = expect_error(lambda: images.generate(PROMPT), "generation_failed", transient=False)
    assert "I cannot create images of that." in error.message


def test_no_candidate_at_all_is_transient(fake, images):
    fake.image = ImageScript(outcome="no_candidates")
    error = expect_error(lambda: images.generate(PROMPT), "generator_bad_response", transient=True)
    assert "no candidate" in error.message


def test_thought_parts_are_skipped_for_the_answers_image(fake, images):
    fake.image = ImageScript(thoughts=True, text="Here is your fox.")
    media = images.generate(PROMPT, "16:9")
    assert open_image(media.data).size == (96, 54)  # not the 32 px draft of the thought part


def test_a_thought_image_alone_is_not_an_answer(fake, images):
    fake.image = ImageScript(outcome="stopped", finish_reason="MAX_TOKENS", thoughts=True)
    error = expect_error(lambda: images.generate(PROMPT), "generator_bad_response", transient=True)
    assert "Composing the scene" not in error.message  # nor are the model's thoughts


def test_every_finish_reason_of_the_sdk_has_a_decided_outcome():
    from google.genai import types

    table = finish_outcomes()
    assert set(table) == {reason.value for reason in types.FinishReason}
    filtered = {reason for reason, (code, _) in table.items() if code == "content_filtered"}
    assert filtered == {
        "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST",
        "SPII", "MODEL_ARMOR", "ESCALATION", "RECITATION", "IMAGE_RECITATION",
    }  # fmt: skip
    assert all(
        not transient for code, transient in table.values() if code != "generator_bad_response"
    )


def test_a_500_is_transient_and_the_next_call_succeeds(fake, images):
    fake.fail("image", 500)
    expect_error(lambda: images.generate(PROMPT), "generator_unavailable", transient=True)
    assert len(fake.requests) == 1  # no retry inside the SDK: Cloud Tasks retries the step
    assert images.generate(PROMPT).data


def test_a_429_is_transient(fake, images):
    fake.fail("image", 429)
    expect_error(lambda: images.generate(PROMPT), "generator_rate_limited", transient=True)


def test_a_400_is_permanent(fake, images):
    fake.fail("image", 400, message="Unsupported aspect ratio.")
    error = expect_error(
        lambda: images.generate(PROMPT, "7:3"), "generation_rejected", transient=False
    )
    assert "Unsupported aspect ratio." in error.message


def test_an_invalid_api_key_is_permanent_and_never_echoed(fake, monkeypatch):
    leaked = "AIza" + "B" * 35
    monkeypatch.setattr(fake, "api_key", leaked)
    generator = GeminiImageGenerator(gemini_api_factory(fake.base_url, api_key=leaked))
    fake.fail("image", 400, message=f"API key not valid: {leaked}")  # a server echoing it
    error = expect_error(lambda: generator.generate(PROMPT), "generation_rejected", transient=False)
    assert leaked not in str(error) and "[redacted]" in error.message


def test_a_server_that_is_down_is_transient_and_fails_fast():
    generator = GeminiImageGenerator(
        gemini_api_factory(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    )
    started = time.monotonic()
    expect_error(lambda: generator.generate(PROMPT), "generator_unavailable", transient=True)
    assert time.monotonic() - started < 5


def test_a_hanging_server_times_out_as_transient(fake):
    fake.delay("image", 3)
    generator = GeminiImageGenerator(gemini_api_factory(fake.base_url, timeout_seconds=0.5))
    started = time.monotonic()
    expect_error(lambda: generator.generate(PROMPT), "generator_unavailable", transient=True)
    assert time.monotonic() - started < 2.5


def test_vertex_ai_uses_the_publisher_model_path_and_a_bearer_token(fake):
    from google.oauth2.credentials import Credentials

    factory = genai_client_factory(
        api_key=None, vertex_project="demo-project", vertex_location="global",
        base_url=fake.base_url, timeout_seconds=5, credentials=Credentials(token=TOKEN),
    )  # fmt: skip
    media = GeminiImageGenerator(factory).generate(PROMPT, "9:16")
    assert open_image(media.data).size == (54, 96)
    [sent] = fake.requests
    assert sent.path == (
        "/v1beta1/projects/demo-project/locations/global/publishers/google/models/"
        f"{DEFAULT_IMAGE_MODEL}:generateContent"
    )
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "9:16"}
