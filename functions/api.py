"""The public `api` function: the routes the app's frontend calls.

Handlers only translate HTTP to service calls and domain errors to answers; the rules live
in shared/services. Every failure a caller can cause is a 4xx naming the problem.
"""

from __future__ import annotations

import re
from typing import Any

import flask

from functions.http import dispatch, error, install_error_handlers, json_body, reply
from shared.bootstrap import container
from shared.domain.creation import Creation
from shared.domain.errors import (
    CreationNotFound,
    IdentityUnavailable,
    InsufficientTokens,
    StoreContention,
    StoreUnavailable,
    Unauthenticated,
)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
QUEUE_UNAVAILABLE = "Video generation queue is unavailable. Please retry shortly."

app = flask.Flask(__name__)
install_error_handlers(app)


@app.before_request
def _limit_body() -> None:
    flask.request.max_content_length = container().settings.max_body_bytes


def handle(request: flask.Request):
    return dispatch(app, request)


def _uid() -> str:
    return container().identity.verify(flask.request.headers.get("Authorization"))


@app.errorhandler(Unauthenticated)
def _unauthenticated(exc: Unauthenticated):
    return error(401, str(exc) or "authentication required", {"WWW-Authenticate": "Bearer"})


@app.errorhandler(IdentityUnavailable)
def _identity_unavailable(_exc: IdentityUnavailable):
    return error(
        503, "Sign-in cannot be checked right now. Please retry shortly.", {"Retry-After": "5"}
    )


@app.errorhandler(CreationNotFound)
def _not_found(_exc: CreationNotFound):
    return error(404, "creation not found")


@app.errorhandler(StoreContention)
def _contention(_exc: StoreContention):
    return error(
        409,
        "Too many simultaneous requests on this account. Please retry.",
        {"Retry-After": "1"},
        retryable=True,
    )


@app.errorhandler(StoreUnavailable)
def _store_unavailable(_exc: StoreUnavailable):
    return error(
        503,
        "The service is temporarily unavailable. Please retry shortly.",
        {"Retry-After": "5"},
        retryable=True,
    )


@app.post("/api/generate/video")
def generate_video():
    from pydantic import ValidationError

    from functions.schemas import VideoRequest, field_errors
    from shared.services.submit import EnqueueFailed, QueueClosed, VideoOrder, submit_video

    deps = container()
    uid = _uid()
    try:
        body = VideoRequest.model_validate(json_body())
    except ValidationError as exc:
        return error(400, "invalid request", fields=field_errors(exc))
    key = _idempotency_key()

    try:
        accepted = submit_video(deps, uid, VideoOrder(body.prompt, body.parameters()), key)
    except InsufficientTokens as exc:
        return error(
            402, "Not enough tokens for this video.", balance=exc.balance, required=exc.required
        )
    except QueueClosed as exc:
        return error(
            503,
            QUEUE_UNAVAILABLE,
            {"Retry-After": "30"},
            refunded=False,
            charged=False,
            queue=exc.report.as_json(),
        )
    except EnqueueFailed as exc:
        details = (
            "Your tokens were refunded."
            if exc.refunded
            else "The refund could not be recorded yet: this creation will be generated or "
            "refunded automatically within minutes. Follow it at its Location."
        )
        return error(
            503,
            QUEUE_UNAVAILABLE,
            {"Retry-After": "30"},
            refunded=exc.refunded,
            details=details,
            creationId=exc.creation.id,
            balance=exc.balance,
            queueErrorCode=exc.queue_code,
        )
    c = accepted.creation
    return reply(
        202,
        {
            "success": True,
            "creationId": c.id,
            "status": str(c.status),
            "tokensCharged": 0 if accepted.replayed else c.cost,
            "balance": accepted.balance,
            "replayed": accepted.replayed,
        },
        {"Location": f"/api/creations/{c.id}"},
    )


@app.post("/api/generate/image")
def generate_image():
    from pydantic import ValidationError

    from functions.schemas import ImageRequest, field_errors
    from shared.services.images import ImageFailed, ImageInProgress, ImageOrder
    from shared.services.images import generate_image as make_image

    deps = container()
    uid = _uid()
    try:
        body = ImageRequest.model_validate(json_body())
    except ValidationError as exc:
        return error(400, "invalid request", fields=field_errors(exc))
    key = _idempotency_key()
    try:
        made = make_image(deps, uid, ImageOrder(body.prompt, body.aspectRatio), key)
    except InsufficientTokens as exc:
        return error(
            402, "Not enough tokens for this image.", balance=exc.balance, required=exc.required
        )
    except ImageInProgress as exc:
        return error(
            409,
            "This request is still being processed. Retry shortly.",
            {"Retry-After": "2"},
            creationId=exc.creation.id,
        )
    except ImageFailed as exc:
        return _image_failed(exc)
    c = made.creation
    return reply(
        200,
        {
            "success": True,
            "creationId": c.id,
            "status": str(c.status),
            "mediaUrl": c.media_url,
            "tokensCharged": 0 if made.replayed else c.cost,
            "balance": made.balance,
            "replayed": made.replayed,
            "creation": creation_json(c),
        },
        {"Location": f"/api/creations/{c.id}"},
    )


def _image_failed(exc: Any):
    if exc.code == "content_filtered":
        status, message, headers = 422, "The prompt was blocked by the safety filter.", {}
    elif exc.transient:
        status, message = 503, "Image generation is temporarily unavailable. Please retry."
        headers = {"Retry-After": "10"}
    else:
        status, message, headers = 502, "Image generation failed.", {}
    details = (
        "Your tokens were refunded."
        if exc.refunded
        else "Your tokens will be refunded automatically within minutes."
    )
    return error(
        status,
        message,
        headers,
        refunded=exc.refunded,
        details=details,
        errorCode=exc.code,
        creationId=exc.creation.id,
        balance=exc.balance,
    )


def _idempotency_key() -> str | None:
    key = flask.request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        flask.abort(
            error(
                400,
                "invalid request",
                fields={"Idempotency-Key": "1 to 128 visible ASCII characters"},
            )
        )
    return key


@app.get("/api/creations/<creation_id>")
def get_creation(creation_id: str):
    from shared.services.accounts import own_creation

    uid = _uid()
    if not _ID.match(creation_id):
        raise CreationNotFound(creation_id)
    return reply(
        200,
        {"success": True, "creation": creation_json(own_creation(container(), uid, creation_id))},
    )


@app.get("/api/tokens")
def get_tokens():
    from shared.services.accounts import token_summary

    uid = _uid()
    limit = flask.request.args.get("limit", "20")
    if not re.fullmatch(r"[0-9]{1,3}", limit) or not 1 <= int(limit) <= 100:
        return error(400, "invalid request", fields={"limit": "an integer from 1 to 100"})
    summary = token_summary(container(), uid, int(limit))
    return reply(
        200,
        {
            "success": True,
            "balance": summary.account.tokens,
            "totalTokensSpent": summary.account.total_tokens_spent,
            "entries": [
                {
                    "id": e.id,
                    "type": str(e.type),
                    "amount": e.amount,
                    "creationId": e.creation_id,
                    "reason": e.reason,
                    "createdAt": e.created_at.isoformat(),
                }
                for e in summary.entries
            ],
        },
    )


@app.get("/api/health/queue")
def queue_health():
    report = container().queue_health.check()
    return reply(200 if report.ok else 503, report.as_json())


@app.get("/api/health")
def health():
    from shared.domain.errors import DomainError

    deps = container()
    checks: dict[str, Any] = {}
    for name, probe in (("store", deps.store.ping), ("media", deps.media.ping)):
        try:
            probe()
            checks[name] = {"status": "ok"}
        except DomainError as exc:
            checks[name] = {"status": "unavailable", "reason": type(exc).__name__}
    checks["queue"] = deps.queue_health.check().as_json()
    ok = all(check["status"] == "ok" for check in checks.values())
    return reply(200 if ok else 503, {"status": "ok" if ok else "degraded", "checks": checks})


@app.get("/media/<path:key>")
def media(key: str):
    """Local mode only: serve what LocalMediaStorage wrote (R2 serves it in production)."""
    deps = container()
    if not deps.settings.is_local:
        flask.abort(404)
    try:
        path, content_type = deps.local_media.open(key)
    except FileNotFoundError:
        flask.abort(404)
    return flask.send_file(path, mimetype=content_type, conditional=True)


def creation_json(c: Creation) -> dict[str, Any]:
    return {
        "creationId": c.id,
        "kind": str(c.kind),
        "status": str(c.status),
        "prompt": c.prompt,
        "parameters": c.parameters,
        "cost": c.cost,
        "mediaUrl": c.media_url,
        "progress": c.progress,
        "errorCode": c.error_code,
        "errorMessage": c.error_message,
        "refunded": c.refunded,
        "queueErrorCode": c.queue_error_code,
        "createdAt": c.created_at.isoformat(),
        "updatedAt": c.updated_at.isoformat(),
    }
