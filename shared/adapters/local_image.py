"""A local image generator: a real PNG drawn from the prompt, with scripted failures."""

from __future__ import annotations

from shared.domain.errors import GenerationError
from shared.ports import Media


class LocalImageGenerator:
    def generate(self, prompt: str, aspect_ratio: str = "1:1") -> Media:
        if "[fail]" in prompt:
            raise GenerationError("generation_failed", "simulated failure (local)", transient=False)
        if "[filtered]" in prompt:
            raise GenerationError(
                "content_filtered",
                "The prompt was blocked by the safety filter (local simulation)",
                transient=False,
            )
        from shared.adapters.local_drawing import render_png

        return Media(render_png(prompt, aspect_ratio), "image/png", "png")
