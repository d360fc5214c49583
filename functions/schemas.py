"""The api's request and response bodies as pydantic models.

Handlers validate requests with these models and build every answer through them, and the
OpenAPI document (functions/openapi.py) is generated from the same models: the contract and
the code cannot drift apart. Request validation errors come back keyed by field name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_snake

# At least one character that str.strip() keeps: JSON Schema's \s (ECMAScript) leaves out
# \x1c-\x1f and \x85, which Python strips, so they are named too.
NOT_ONLY_SPACES = r"[^\s\x1c-\x1f\x85]"


def _integer(value: Any) -> Any:
    """JSON integers only: a literal would accept 8.0 (== 8) even in strict mode."""
    if isinstance(value, float):
        raise ValueError("Input should be an integer: 4, 6 or 8")
    return value


class VideoRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra={
            # The one rule between fields: 1080p exists for 8-second videos only.
            "if": {"properties": {"resolution": {"const": "1080p"}}, "required": ["resolution"]},
            "then": {"properties": {"durationSeconds": {"const": 8}}},
            "examples": [
                {"prompt": "a red fox running through snow"},
                {
                    "prompt": "a lighthouse in a storm, cinematic",
                    "aspectRatio": "9:16",
                    "durationSeconds": 8,
                    "resolution": "1080p",
                    "negativePrompt": "text, watermark",
                },
            ],
        },
    )

    prompt: str = Field(min_length=1, max_length=2000, pattern=NOT_ONLY_SPACES)
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
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"prompt": "a paper boat", "aspectRatio": "4:3"}]},
    )

    prompt: str = Field(min_length=1, max_length=2000, pattern=NOT_ONLY_SPACES)
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


# -- answers ---------------------------------------------------------------------------------


class Answer(BaseModel):
    """An answer body: only the fields declared, all of them always present unless optional."""

    model_config = ConfigDict(extra="forbid")


class FromDomain(Answer):
    """An answer read from a domain object: `Model.model_validate(obj)` fills each camelCase
    field from the object's snake_case attribute of the same name (`creationId` from
    `creation_id`), so a field is named once, here. Built by name (`Model(creationId=...)`)
    it works as any answer; the OpenAPI document shows the camelCase names (it describes
    answers as they are serialized)."""

    model_config = ConfigDict(
        from_attributes=True,
        alias_generator=AliasGenerator(validation_alias=to_snake),
        validate_by_name=True,
        validate_by_alias=True,
    )


class CreationOut(Answer):
    creationId: str  # noqa: N815
    kind: Literal["video", "image"]
    status: Literal["pending", "processing", "draft", "failed", "cancelled"]
    prompt: str
    parameters: dict[str, Any]
    cost: int
    mediaUrl: str | None = Field(  # noqa: N815
        description="Made at each read: a presigned link is valid from then on"
    )
    downloadUrl: str | None = Field(  # noqa: N815
        description="A link that saves the file as <kind>-<creationId>.<ext> "
        "(Content-Disposition: attachment) rather than showing it; made at each read, "
        "like mediaUrl"
    )
    progress: int = Field(ge=0, le=100)
    errorCode: str | None  # noqa: N815
    errorMessage: str | None  # noqa: N815
    refunded: bool
    queueErrorCode: str | None  # noqa: N815
    createdAt: datetime  # noqa: N815
    updatedAt: datetime  # noqa: N815
    queuePosition: int | None = Field(  # noqa: N815
        default=None,
        ge=0,
        description="While a video waits for its start (GET /api/creations/<id> only): how "
        "many accepted videos start before it",
    )
    estimatedStartAt: datetime | None = Field(  # noqa: N815
        default=None,
        description="While a video waits for its start: about when it starts, from the "
        "position and the pace of starts (VEO_STARTS_PER_MINUTE)",
    )
    model: str | None = Field(
        default=None,
        description="A started video: the generator's model that makes it (a fallback model "
        "when the primary was out of quota)",
    )
    location: str | None = Field(
        default=None,
        description="A started video: where the model runs (a Vertex AI region, or global)",
    )


class VideoAccepted(Answer):
    success: Literal[True] = True
    creationId: str  # noqa: N815
    status: Literal["pending", "processing", "draft", "failed", "cancelled"]
    tokensCharged: int  # noqa: N815
    balance: int
    replayed: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "success": True,
                    "creationId": "3f2b0c4e9d5a4b7c8e1f2a3b4c5d6e7f",
                    "status": "pending",
                    "tokensCharged": 10,
                    "balance": 90,
                    "replayed": False,
                }
            ]
        }
    )


class ImageMade(Answer):
    success: Literal[True] = True
    creationId: str  # noqa: N815
    status: Literal["draft"]
    mediaUrl: str | None  # noqa: N815
    tokensCharged: int  # noqa: N815
    balance: int
    replayed: bool
    creation: CreationOut


class CreationAnswer(Answer):
    success: Literal[True] = True
    creation: CreationOut


class CreationPage(Answer):
    success: Literal[True] = True
    creations: list[CreationOut]
    nextCursor: str | None  # noqa: N815


class LedgerEntryOut(FromDomain):
    id: str
    type: Literal["grant", "adjustment", "credit", "debit", "refund"]
    amount: int = Field(description="Tokens; an adjustment's is negative")
    creationId: str | None  # noqa: N815
    reason: str
    createdAt: datetime  # noqa: N815
    by: str | None = Field(None, description="Who moved the tokens: an operator, a payments caller")
    externalId: str | None = None  # noqa: N815


def _uid(value: Any) -> Any:
    from shared.domain.identity import uid_problem

    problem = uid_problem(value) if isinstance(value, str) else None
    if problem is not None:
        raise ValueError(f"not a valid user id: {problem}")
    return value


UserId = Annotated[str, AfterValidator(_uid), Field(min_length=1, max_length=128)]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=NOT_ONLY_SPACES)]


class GrantRequest(BaseModel):
    """An operator's grant (amount > 0) or correction (amount < 0)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"uid": "u-123", "amount": 50, "reason": "support ticket 4411"}]
        },
    )

    uid: UserId
    amount: int = Field(ge=-1_000_000, le=1_000_000, description="Non-zero; negative: a correction")
    reason: Reason

    @model_validator(mode="after")
    def _not_zero(self) -> GrantRequest:
        if self.amount == 0:
            raise ValueError("amount: must not be 0")
        return self


class CreditRequest(BaseModel):
    """Tokens a payment bought, from the payments backend."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"uid": "u-123", "amount": 500, "externalId": "pi_3Q9", "reason": "pack 500"}
            ]
        },
    )

    uid: UserId
    amount: int = Field(ge=1, le=1_000_000)
    externalId: str = Field(  # noqa: N815
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The payment's id: the same externalId is credited once, for ever",
    )
    reason: Reason


class MovementAnswer(Answer):
    """A grant, correction or credit: the balance it left and its ledger entry."""

    success: Literal[True] = True
    balance: int
    entry: LedgerEntryOut
    replayed: bool


class PriceOut(Answer):
    kind: Literal["video", "image"]
    tokens: int
    parameters: dict[str, Any] = Field(description="The parameters this price is for; {}: any")


class PricesAnswer(Answer):
    success: Literal[True] = True
    prices: list[PriceOut]


class TokensPage(Answer):
    success: Literal[True] = True
    balance: int
    totalTokensSpent: int  # noqa: N815
    inFlight: int  # noqa: N815
    entries: list[LedgerEntryOut]
    nextCursor: str | None  # noqa: N815


class CancelAnswer(Answer):
    success: Literal[True] = True
    creation: CreationOut
    refunded: Literal[True] = True
    cancelledNow: bool  # noqa: N815
    balance: int | None


class MeAnswer(Answer):
    success: Literal[True] = True
    uid: str
    admin: bool
    balance: int
    inFlight: int  # noqa: N815


class QueueHealthOut(Answer):
    status: Literal["ok", "paused", "disabled", "unavailable"]
    state: str | None
    checkedAt: datetime  # noqa: N815
    reason: str | None = None


class SystemHealthOut(Answer):
    status: Literal["ok", "degraded"]
    checks: dict[str, Literal["ok", "paused", "disabled", "unavailable"]]


class ErrorBody(Answer):
    """Every error: a stable `code` for programs (see the README's table) and a sentence for
    people, with the fields that apply to it."""

    success: Literal[False] = False
    code: str
    error: str
    fields: dict[str, str] | None = Field(None, description="400: what is wrong, by field")
    balance: int | None = None
    required: int | None = None
    refunded: bool | None = None
    charged: bool | None = None
    details: str | None = None
    creationId: str | None = None  # noqa: N815
    queueErrorCode: str | None = None  # noqa: N815
    errorCode: str | None = None  # noqa: N815
    queue: QueueHealthOut | None = None
    retryable: bool | None = None
    inFlight: int | None = None  # noqa: N815
    limit: int | None = None
    creationStatus: str | None = None  # noqa: N815
    spentToday: int | None = None  # noqa: N815
    resetsAt: datetime | None = None  # noqa: N815

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "success": False,
                    "code": "insufficient_tokens",
                    "error": "Not enough tokens for this video.",
                    "balance": 5,
                    "required": 10,
                }
            ]
        }
    )


# -- the operator's routes -------------------------------------------------------------------


class QueueChangeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "Veo quota exhausted until 14:00 UTC"}]},
    )

    reason: str = Field(min_length=1, max_length=500, pattern=NOT_ONLY_SPACES)


class QueueChangeOut(FromDomain):
    action: Literal["pause", "resume"]
    by: str
    at: datetime
    reason: str


class AdminQueue(Answer):
    status: Literal["ok", "paused", "disabled", "unavailable"]
    state: str | None
    checkedAt: datetime  # noqa: N815
    reason: str | None = None
    lastChange: QueueChangeOut | None  # noqa: N815


class AdminQueueAnswer(Answer):
    success: Literal[True] = True
    queue: AdminQueue


class WindowOut(FromDomain):
    submitted: int
    drafts: int
    inFlight: int  # noqa: N815
    enqueueFailed: dict[str, int]  # noqa: N815
    refunded: dict[str, int]
    failed: dict[str, int]


class WindowsOut(Answer):
    hour: WindowOut
    day: WindowOut


class MinuteOut(FromDomain):
    minute: datetime
    submitted: int
    enqueueFailed: int  # noqa: N815
    refunded: int
    drafts: int
    failed: int


class StuckOut(Answer):
    creationId: str  # noqa: N815
    userId: str  # noqa: N815
    kind: Literal["video", "image"]
    status: Literal["pending", "processing"]
    updatedAt: datetime  # noqa: N815
    stuckForSeconds: int  # noqa: N815


class FailureOut(FromDomain):
    # A creation's id is its `id` attribute; in an answer it is `creationId`.
    creationId: str = Field(validation_alias=AliasChoices("id", "creationId"))  # noqa: N815
    userId: str  # noqa: N815
    kind: Literal["video", "image"]
    errorCode: str | None  # noqa: N815
    queueErrorCode: str | None  # noqa: N815
    updatedAt: datetime  # noqa: N815


class AdminOverview(Answer):
    success: Literal[True] = True
    generatedAt: datetime  # noqa: N815
    queue: AdminQueue
    windows: WindowsOut
    perMinute: list[MinuteOut]  # noqa: N815
    stuck: list[StuckOut]
    latestFailures: list[FailureOut]  # noqa: N815
    truncated: bool = Field(description="The day held more creations than were counted")
    movements: dict[Literal["grant", "credit", "adjustment"], MovementTotalsOut] = Field(
        default_factory=dict,
        description="The last day's ledger entries that brought tokens in or took them back, "
        "by type: how many and their sum (a grant: an operator's or a starting grant)",
    )
    starts: StartsOut | None = Field(
        default=None, description="Videos waiting for their start, and the pace of starts"
    )


class MovementTotalsOut(FromDomain):
    count: int
    tokens: int = Field(description="The entries' amounts summed; an adjustment's is negative")


class StartsOut(FromDomain):
    perMinute: float = Field(description="VEO_STARTS_PER_MINUTE: the start queue's pace")  # noqa: N815
    waiting: int = Field(description="Videos accepted and not started yet (pending)")
    oldestWaitSeconds: int | None = Field(  # noqa: N815
        description="How long the oldest waiting video has waited; null when none waits"
    )


class ReconcileOut(Answer):
    scanned: int
    requeued: int
    failed: int
    errors: int
    repaired: int


class ReconcileAnswer(Answer):
    success: Literal[True] = True
    report: ReconcileOut
