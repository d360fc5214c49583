"""The ImageGenerator port on a Gemini image model ("Nano Banana"), through google-genai.

One synchronous `models.generate_content` call with `response_modalities=["IMAGE"]` and an
`ImageConfig(aspect_ratio=...)`: Gemini API POST `v1/models/M:generateContent`, Vertex AI POST
`v1beta1/projects/P/locations/L/publishers/google/models/M:generateContent`. The first inline
image part of the answer is the result. (Imagen / `generate_images` is deprecated in
google-genai; Gemini image models are the replacement.)

`google.genai` is imported inside the methods only: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.adapters.genai_client import LazyClient, shorten, to_generation_error
from shared.domain.errors import GenerationError
from shared.ports import Media

DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
    "image/gif": "gif",
}
_FILTER_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)


class GeminiImageGenerator:
    def __init__(self, client_factory: Callable[[], Any], model: str = DEFAULT_IMAGE_MODEL) -> None:
        """`client_factory` returns a google-genai Client (see genai_client_factory); it is
        called on first use only."""
        self.model = model
        self._client = LazyClient(client_factory)

    def generate(self, prompt: str, aspect_ratio: str = "1:1") -> Media:
        from google.genai import types

        try:
            client = self._client.get()
            config = types.GenerateContentConfig(
                response_modalities=["IMAGE"],
                image_config=types.ImageConfig(aspect_ratio=aspect_ratio),
                # One request per call: no function calling, no automatic continuation.
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
                automatic_continuation=False,
            )
            response = client.models.generate_content(
                model=self.model, contents=prompt, config=config
            )
        except Exception as exc:
            raise to_generation_error(exc, what="gemini image") from exc

        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason:
            detail = _name(feedback.block_reason)
            if feedback.block_reason_message:
                detail += f": {feedback.block_reason_message}"
            raise GenerationError(
                "content_filtered", shorten(f"prompt blocked ({detail})"), transient=False
            )

        reasons: list[str] = []
        texts: list[str] = []
        for candidate in response.candidates or []:
            if candidate.finish_reason:
                reasons.append(_name(candidate.finish_reason))
            parts = candidate.content.parts if candidate.content else None
            for part in parts or []:
                blob = part.inline_data
                mime_type = ((blob.mime_type if blob else None) or "").split(";")[0].lower()
                if blob is not None and blob.data and mime_type.startswith("image/"):
                    extension = _EXTENSIONS.get(mime_type, mime_type.removeprefix("image/"))
                    return Media(bytes(blob.data), mime_type, extension)
                if part.text and not part.thought:
                    texts.append(part.text)

        filtered = [r for r in reasons if r in _FILTER_FINISH_REASONS]
        if filtered:
            message = f"image blocked (finish reason {', '.join(filtered)})"
        else:
            said = f": {' '.join(texts)}" if texts else ""
            finish = f" (finish reason {', '.join(reasons)})" if reasons else ""
            message = f"the model returned no image{finish}{said}"
        raise GenerationError("content_filtered", shorten(message), transient=False)


def _name(value: Any) -> str:
    """An enum member's name (or the raw string the SDK kept for an unknown value)."""
    return str(getattr(value, "value", value))
