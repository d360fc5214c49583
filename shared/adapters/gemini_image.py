"""The ImageGenerator port on a Gemini image model ("Nano Banana"), through google-genai.

One synchronous `models.generate_content` call with `response_modalities=["IMAGE"]` and an
`ImageConfig(aspect_ratio=...)`: Gemini API POST `v1/models/M:generateContent`, Vertex AI POST
`v1beta1/projects/P/locations/L/publishers/google/models/M:generateContent`. The first inline
image part of the answer is the result; thought parts (`thought: true`, a thinking model's
draft images and notes) are skipped. (Imagen / `generate_images` is deprecated in
google-genai; Gemini image models are the replacement.)

No image is a GenerationError chosen by why: a blocked prompt or a safety / policy finish
reason is `content_filtered` (permanent: the user must change the prompt); a model that
finished without drawing is `generation_failed` (permanent); our request or account is
`generator_misconfigured` (permanent); a cut-short, malformed or unexplained answer (no
candidate, MAX_TOKENS, OTHER...) is `generator_bad_response` (transient: a retry may help).
The table is `finish_outcomes()`. Inline data of a type we do not store (not PNG, JPEG, WebP
or GIF) is `unsupported_output` (permanent).

`google.genai` is imported inside the methods only: importing this module stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from shared.adapters.genai_client import shorten, to_generation_error
from shared.adapters.lazy import Lazy
from shared.config import DEFAULT_IMAGE_MODEL
from shared.domain.errors import GenerationError
from shared.ports import Media

# The raster types we store and serve. Anything else (e.g. SVG, which can carry scripts) is
# refused as `unsupported_output`, never stored under our domain.
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
    "image/gif": "gif",
}
FILTERED = ("content_filtered", False)  # a safety or policy filter: 422, change the prompt
FAILED = ("generation_failed", False)  # the model finished without an image: a retry won't help
NO_ANSWER = ("generator_bad_response", True)  # cut short or unexplained: a retry may help
MISCONFIGURED = ("generator_misconfigured", False)  # our account or request, not the user's
_SEVERITY = (FILTERED, MISCONFIGURED, FAILED, NO_ANSWER)  # several candidates: the first wins


@functools.cache
def finish_outcomes() -> dict[str, tuple[str, bool]]:
    """(error code, transient) for a candidate that ended with this finish reason and no image,
    for every `types.FinishReason` of google-genai 3.4 (a test keeps it complete)."""
    from google.genai.types import FinishReason as R

    table = {
        # safety and policy filters on the prompt or the output
        R.SAFETY: FILTERED,
        R.IMAGE_SAFETY: FILTERED,
        R.PROHIBITED_CONTENT: FILTERED,
        R.IMAGE_PROHIBITED_CONTENT: FILTERED,
        R.BLOCKLIST: FILTERED,
        R.SPII: FILTERED,
        R.MODEL_ARMOR: FILTERED,
        R.ESCALATION: FILTERED,
        R.RECITATION: FILTERED,  # too close to an existing work: the prompt must change
        R.IMAGE_RECITATION: FILTERED,
        # the model finished normally and chose not to draw, or cannot with this prompt
        R.STOP: FAILED,
        R.NO_IMAGE: FAILED,
        R.LANGUAGE: FAILED,
        # our request or our account: every retry would fail the same way
        R.MISSING_THOUGHT_SIGNATURE: MISCONFIGURED,
        R.PUP_LIMITED_DISABLED: MISCONFIGURED,
        # cut short, malformed or unexplained: another sample may well succeed
        R.MAX_TOKENS: NO_ANSWER,
        R.CONTINUATION: NO_ANSWER,
        R.OTHER: NO_ANSWER,
        R.IMAGE_OTHER: NO_ANSWER,
        R.MALFORMED_RESPONSE: NO_ANSWER,
        R.MALFORMED_FUNCTION_CALL: NO_ANSWER,
        R.UNEXPECTED_TOOL_CALL: NO_ANSWER,
        R.TOO_MANY_TOOL_CALLS: NO_ANSWER,
        R.FINISH_REASON_UNSPECIFIED: NO_ANSWER,
    }
    return {reason.value: outcome for reason, outcome in table.items()}


class GeminiImageGenerator:
    def __init__(self, client_factory: Callable[[], Any], model: str = DEFAULT_IMAGE_MODEL) -> None:
        """`client_factory` returns a google-genai Client (see genai_client_factory); it is
        called on first use only."""
        self.model = model
        self._client: Lazy[Any] = Lazy(client_factory)

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
            # Any block reason (SAFETY, BLOCKLIST, PROHIBITED_CONTENT, IMAGE_SAFETY, JAILBREAK,
            # MODEL_ARMOR, OTHER...) means the prompt itself was refused: the user must change it.
            detail = _name(feedback.block_reason)
            if feedback.block_reason_message:
                detail += f": {feedback.block_reason_message}"
            raise GenerationError(
                "content_filtered", shorten(f"prompt blocked ({detail})"), transient=False
            )

        reasons: list[str] = []
        texts: list[str] = []
        unsupported: list[str] = []
        for candidate in response.candidates or []:
            reasons.append(_name(candidate.finish_reason) if candidate.finish_reason else "none")
            parts = candidate.content.parts if candidate.content else None
            for part in parts or []:
                if part.thought:  # thinking: a draft image or the model's notes, not the answer
                    continue
                blob = part.inline_data
                mime_type = ((blob.mime_type if blob else None) or "").split(";")[0].lower()
                if blob is not None and blob.data and mime_type in _EXTENSIONS:
                    return Media(bytes(blob.data), mime_type, _EXTENSIONS[mime_type])
                if blob is not None and blob.data:
                    unsupported.append(mime_type or "no type")
                if part.text:
                    texts.append(part.text)

        if unsupported:
            message = f"the model returned no image we store (got {', '.join(unsupported)})"
            raise GenerationError("unsupported_output", shorten(message), transient=False)

        outcomes = finish_outcomes()
        found = {outcomes.get(reason, NO_ANSWER) for reason in reasons} or {NO_ANSWER}
        code, transient = next(o for o in _SEVERITY if o in found)
        said = f": {' '.join(texts)}" if texts else ""
        finish = f"finish reason {', '.join(reasons)}" if reasons else "no candidate"
        message = f"the model returned no image ({finish}){said}"
        raise GenerationError(code, shorten(message), transient=transient)


def _name(value: Any) -> str:
    """An enum member's name (or the raw string the SDK kept for an unknown value)."""
    return str(getattr(value, "value", value))
