"""The api's OpenAPI 3.1 document, generated from the pydantic models its handlers use.

Every route of the api is declared here once, with its parameters, request model and the
answers it can give; `document()` turns that into OpenAPI, taking every schema from
pydantic (`models_json_schema`), so the document cannot say something the code does not
do. A test fails when a route exists in the app but not here, or the reverse.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from functions import schemas

ERRORS = {
    400: "Invalid request: `fields` names each wrong field (`code: invalid_request`)",
    401: "No valid identity token (`code: unauthenticated`)",
    402: "Not enough tokens (`code: insufficient_tokens`); nothing was charged",
    403: "Not allowed (`code: forbidden`)",
    404: "Not found, or not yours (`code: not_found`)",
    405: "Method not allowed; `Allow` lists the methods",
    409: "Conflict: retry shortly (`busy`, `in_progress`) or not possible (`not_cancellable`; "
    "`balance_too_low`: a correction below zero, nothing changed)",
    413: "The body is larger than allowed (`code: payload_too_large`)",
    415: "The body must be JSON (`code: unsupported_media_type`)",
    422: "Idempotency-Key (or a credit's externalId) reused for another request "
    "(`idempotency_conflict`), or the prompt was filtered (`content_filtered`)",
    429: "Too many videos in flight (`rate_limited`) or the day's spending cap reached "
    "(`daily_limit`, with `resetsAt`); nothing was charged",
    500: "Internal error (`code: internal`)",
    502: "The generator failed (`code: generation_failed`); tokens were refunded",
    503: "Temporarily unavailable: `queue_unavailable` (refunded or not charged), "
    "`service_unavailable`, `identity_unavailable`; see Retry-After",
}
AUTHENTICATED = (401, 503)
ALWAYS = (500,)


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # query | header | path
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI form: /api/creations/{creationId}
    operation_id: str
    summary: str
    ok: tuple[int, type[BaseModel] | None]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    parameters: tuple[Parameter, ...] = ()
    authenticated: bool = True
    headers: dict[int, tuple[str, ...]] = field(default_factory=dict)
    content_type: str = "application/json"


CREATION_ID = Parameter(
    "creationId", "path", {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
    "The creation's id, as `creationId` in a submit's answer", required=True,
)  # fmt: skip
IDEMPOTENCY_KEY = Parameter(
    "Idempotency-Key", "header", {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    "Makes a retry safe: the same key, endpoint and body within IDEMPOTENCY_KEY_TTL_HOURS "
    "answers the first request's creation and charges nothing again",
)  # fmt: skip
REQUIRED_IDEMPOTENCY_KEY = Parameter(
    "Idempotency-Key", "header", {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"},
    "Required: one per grant, reused on retries; the same key answers the first result",
    required=True,
)  # fmt: skip
LIMIT = Parameter(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "Items per page",
)  # fmt: skip
CURSOR = Parameter(
    "cursor", "query", {"type": "string"}, "The `nextCursor` of the previous page, as given"
)
KIND = Parameter("kind", "query", {"enum": ["video", "image"]}, "Only creations of this kind")
STATUS = Parameter(
    "status", "query", {"enum": ["pending", "processing", "draft", "failed", "cancelled"]},
    "Only creations in this state",
)  # fmt: skip
MEDIA_KEY = Parameter("key", "path", {"type": "string"}, "A media object's key", required=True)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", "/api/generate/video", "submitVideo",
        "Pay for a video and queue its generation",
        (202, schemas.VideoAccepted), (400, 402, 409, 413, 415, 422, 429),
        body=schemas.VideoRequest, parameters=(IDEMPOTENCY_KEY,),
        headers={202: ("Location",), 429: ("Retry-After",), 503: ("Retry-After",)},
    ),
    Operation(
        "post", "/api/generate/image", "generateImage",
        "Pay for an image and get it in the answer",
        (200, schemas.ImageMade), (400, 402, 409, 413, 415, 422, 502),
        body=schemas.ImageRequest, parameters=(IDEMPOTENCY_KEY,),
        headers={200: ("Location",), 503: ("Retry-After",)},
    ),
    Operation(
        "get", "/api/creations", "listCreations", "Your creations, newest first",
        (200, schemas.CreationPage), (400,), parameters=(KIND, STATUS, LIMIT, CURSOR),
    ),
    Operation(
        "get", "/api/creations/{creationId}", "getCreation", "One of your creations",
        (200, schemas.CreationAnswer), (404,), parameters=(CREATION_ID,),
    ),
    Operation(
        "post", "/api/creations/{creationId}/cancel", "cancelCreation",
        "Cancel a video before its generation started; refunded at once",
        (200, schemas.CancelAnswer), (404, 409), parameters=(CREATION_ID,),
    ),
    Operation(
        "get", "/api/tokens", "getTokens", "Your balance and ledger, newest first",
        (200, schemas.TokensPage), (400,), parameters=(LIMIT, CURSOR),
    ),
    Operation("get", "/api/me", "getMe", "Who you are", (200, schemas.MeAnswer)),
    Operation(
        "get", "/api/prices", "getPrices",
        "What each kind costs, in tokens (the Policy that charges); cacheable",
        (200, schemas.PricesAnswer), authenticated=False,
    ),
    Operation(
        "post", "/api/credits", "creditTokens",
        "Payments backend only: add tokens a user bought, once per externalId (for ever). "
        "Authorization: a Google-signed ID token of a CREDIT_CALLERS service account, "
        "audience the api's URL (locally `dev-service:<email>`)",
        (200, schemas.MovementAnswer), (400, 403, 413, 415, 422),
        body=schemas.CreditRequest,
    ),
    Operation(
        "get", "/api/health/queue", "getQueueHealth",
        "Can videos be queued now? 503 (paused, disabled, unavailable): nothing is charged",
        (200, schemas.QueueHealthOut), authenticated=False,
        headers={503: ("Retry-After",)},
    ),
    Operation(
        "get", "/api/health", "getHealth", "Store, media and queue, by status",
        (200, schemas.SystemHealthOut), authenticated=False, headers={503: ("Retry-After",)},
    ),
    Operation(
        "get", "/api/openapi.json", "getOpenApi", "This document",
        (200, None), authenticated=False,
    ),
    Operation(
        "get", "/api/admin/overview", "getAdminOverview",
        "Operators: the queue, the last hour and day, stuck creations, latest failures",
        (200, schemas.AdminOverview), (403,),
        parameters=(Parameter("fresh", "query", {"enum": ["1"]}, "Skip the 5 s cache"),),
    ),
    Operation(
        "post", "/api/admin/queue/pause", "pauseQueue",
        "Operators: stop dispatching; every new video is refused (nothing charged)",
        (200, schemas.AdminQueueAnswer), (400, 403, 413, 415),
        body=schemas.QueueChangeRequest, headers={503: ("Retry-After",)},
    ),
    Operation(
        "post", "/api/admin/queue/resume", "resumeQueue", "Operators: dispatch again",
        (200, schemas.AdminQueueAnswer), (400, 403, 413, 415),
        body=schemas.QueueChangeRequest, headers={503: ("Retry-After",)},
    ),
    Operation(
        "post", "/api/admin/grants", "grantTokens",
        "Operators: grant tokens (amount > 0) or correct a balance (amount < 0, never below "
        "zero); a replay of the Idempotency-Key answers the first result",
        (200, schemas.MovementAnswer), (400, 403, 409, 413, 415, 422),
        body=schemas.GrantRequest, parameters=(REQUIRED_IDEMPOTENCY_KEY,),
    ),
    Operation(
        "post", "/api/admin/reconcile", "reconcileNow",
        "Operators: run the reconciler's sweep now",
        (200, schemas.ReconcileAnswer), (403,),
    ),
    Operation(
        "get", "/media/{key}", "getLocalMedia",
        "Local mode only: a media file (R2 serves them in production)",
        (200, None), (404,), parameters=(MEDIA_KEY,), authenticated=False,
        content_type="application/octet-stream",
    ),
)  # fmt: skip

# Answers whose schema differs from the error body.
_SPECIAL: dict[tuple[str, int], type[BaseModel]] = {
    ("getQueueHealth", 503): schemas.QueueHealthOut,
    ("getHealth", 503): schemas.SystemHealthOut,
}


def _models() -> list[tuple[type[BaseModel], Any]]:
    """Request bodies as they are validated, answers as they are serialized."""
    bodies = {op.body for op in OPERATIONS if op.body is not None}
    answers = {op.ok[1] for op in OPERATIONS if op.ok[1] is not None} | {schemas.ErrorBody}
    answers |= set(_SPECIAL.values())
    found = [(m, "validation") for m in bodies] + [(m, "serialization") for m in answers]
    return sorted(found, key=lambda pair: pair[0].__name__)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answer(op: Operation, status: int, model: type[BaseModel] | None, text: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": text}
    if model is not None:
        answer["content"] = {"application/json": {"schema": _ref(model)}}
    elif status < 400:
        binary = op.content_type != "application/json"
        schema = {"type": "string", "format": "binary"} if binary else {"type": "object"}
        answer["content"] = {op.content_type: {"schema": schema}}
    names = op.headers.get(status, ())
    if names:
        answer["headers"] = {name: {"schema": {"type": "string"}} for name in names}
    return answer


def _operation(op: Operation) -> dict[str, Any]:
    status, model = op.ok
    responses = {str(status): _answer(op, status, model, "Success")}
    codes = set(op.errors) | set(ALWAYS) | (set(AUTHENTICATED) if op.authenticated else set())
    if op.operation_id in ("submitVideo", "generateImage", "getQueueHealth", "getHealth"):
        codes.add(503)
    for code in sorted(codes):
        special = _SPECIAL.get((op.operation_id, code), schemas.ErrorBody)
        responses[str(code)] = _answer(op, code, special, ERRORS[code])
    if "404" in responses or op.parameters and any(p.where == "path" for p in op.parameters):
        # A path the platform cannot route (e.g. with a newline in it) never reaches the api:
        # functions-framework answers that 404 itself, in HTML.
        not_found = responses.setdefault("404", _answer(op, 404, schemas.ErrorBody, ERRORS[404]))
        not_found["content"]["text/html"] = {"schema": {"type": "string"}}
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": responses,
        "security": [{"firebase": []}] if op.authenticated else [],
    }
    if op.parameters:
        spec["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "description": p.description,
                "schema": p.schema,
            }
            for p in op.parameters
        ]
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    return spec


@functools.cache
def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        _models(),
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Creator backend api",
            "version": "1",
            "description": "Token-billed AI video and image generation. Every error has a "
            "stable `code` (README: error codes) beside the human `error`.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "firebase": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "Firebase ID token (locally: dev:<uid>)",
                }
            },
        },
    }
