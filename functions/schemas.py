"""Request bodies, validated with pydantic; errors come back keyed by field name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator


def _integer(value: Any) -> Any:
    """JSON integers only: a literal would accept 8.0 (== 8) even in strict mode."""
    if isinstance(value, float):
        raise ValueError("Input should be an integer: 4, 6 or 8")
    return value


class VideoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=2000)
    aspectRatio: Literal["16:9", "9:16"] = "16:9"  # noqa: N815 - the API's JSON names
    durationSeconds: Annotated[Literal[4, 6, 8], BeforeValidator(_integer)] = 8  # noqa: N815
    negativePrompt: str | None = Field(default=None, max_length=2000)  # noqa: N815
    resolution: Literal["720p", "1080p"] = "720p"

    @model_validator(mode="after")
    def _combination(self) -> VideoRequest:
        if self.resolution == "1080p" and self.durationSeconds != 8:
            raise ValueError("resolution: 1080p needs durationSeconds 8")
        return self

    def parameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"prompt"}, exclude_none=True)


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=2000)
    aspectRatio: Literal["1:1", "16:9", "9:16", "4:3", "3:4"] = "1:1"  # noqa: N815


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{"prompt": "String should have at least 1 character", ...}"""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not location and ": " in message:  # a model-level rule names its field itself
            location, message = message.split(": ", 1)
        fields.setdefault(location or "body", message)
    return fields
