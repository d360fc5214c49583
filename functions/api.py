"""The public `api` function: the routes the app's frontend calls.

Handlers only translate HTTP to service calls and domain errors to answers; the rules live
in shared/services. Every failure a caller can cause is a 4xx naming the problem, with a
stable `code`. `create_app(deps)` builds the app from its dependencies (the container in
production, fakes in tests).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import flask
from flask_cors import CORS

from functions import admin, schemas
from functions.http import app_deps, error, install_error_handlers, invalid, reply, validated
from shared import events
from shared.domain.creation import Creation
from shared.domain.errors import (
    CreationNotFound,
    IdentityUnavailable,
    InsufficientTokens,
    NotCancellable,
    StorageError,
    StoreContention,
    StoreUnavailable,
    TooManyInFlight,
    Unauthenticated,
)
from shared.domain.failures import user_message
from shared.domain.idempotency import IdempotencyConflict
from shared.domain.identity import Identity
from shared.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from shared.services.admin import OverviewCache

if TYPE_CHECKING:
    from shared.bootstrap import Container
    from shared.ports import MediaStorage

# Creation ids are ours (hex); a name Firestore reserves (`__x__`) is never one of them.
_ID = re.compile(r"^(?!__.*__$)[A-Za-z0-9_-]{1,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
QUEUE_UNAVAILABLE = "Video generation queue is unavailable. Please retry shortly."
CORS_MAX_AGE_SECONDS = 3600

bp = flask.Blueprint("api", __name__)


def create_app(deps: Container) -> flask.Flask:
    app = flask.Flask(__name__)
    app.extensions["deps"] = deps
    app.config["MAX_CONTENT_LENGTH"] = deps.settings.max_body_bytes
    # Preflights are answered here, before any route runs (so before authentication).
    # Exact origins only; a disallowed origin gets no CORS headers at all.
    CORS(
        app,
        origins=list(deps.settings.allowed_origins),
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Location", "Retry-After"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=CORS_MAX_AGE_SECONDS,
        vary_header=True,
    )
    install_error_handlers(app)
    _install_domain_error_handlers(app)
    app.register_blueprint(bp)
    app.register_blueprint(admin.bp)
    app.extensions["overview"] = OverviewCache()
    return app


def _identity() -> Identity:
    return app_deps().identity.identify(flask.request.headers.get("Authorization"))


def _uid() -> str:
    return _identity().uid


def _install_domain_error_handlers(app: flask.Flask) -> None:
    @app.errorhandler(Unauthenticated)
    def _unauthenticated(exc: Unauthenticated) -> flask.Response:
        message = str(exc) or "authentication required"
        return error(401, "unauthenticated", message, {"WWW-Authenticate": "Bearer"})

    @app.errorhandler(IdentityUnavailable)
    def _identity_unavailable(_exc: IdentityUnavailable) -> flask.Response:
        return error(
            503,
            "identity_unavailable",
            "Sign-in cannot be checked right now. Please retry shortly.",
            {"Retry-After": "5"},
        )

    @app.errorhandler(CreationNotFound)
    def _not_found(_exc: CreationNotFound) -> flask.Response:
        return error(404, "not_found", "creation not found")

    @app.errorhandler(StoreContention)
    def _contention(_exc: StoreContention) -> flask.Response:
        return error(
            409,
            "busy",
            "Too many simultaneous requests on this account. Please retry.",
            {"Retry-After": "1"},
            retryable=True,
        )

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(_exc: StoreUnavailable) -> flask.Response:
        return error(
            503,
            "service_unavailable",
            "The service is temporarily unavailable. Please retry shortly; a request that "
            "was charged is completed or refunded automatically (retry with the same "
            "Idempotency-Key to find it).",
            {"Retry-After": "5"},
            retryable=True,
        )

    @app.errorhandler(IdempotencyConflict)
    def _idempotency_conflict(exc: IdempotencyConflict) -> flask.Response:
        return error(422, "idempotency_conflict", exc.message)


@bp.post("/api/generate/video")
def generate_video() -> flask.Response:
    from functions.schemas import VideoRequest
    from shared.services.videos import EnqueueFailed, QueueClosed, VideoOrder, submit_video

    deps = app_deps()
    uid = _uid()
    body = validated(VideoRequest)
    key = _idempotency_key()

    try:
        accepted = submit_video(deps, uid, VideoOrder(body.prompt, body.parameters()), key)
    except InsufficientTokens as exc:
        return error(
            402,
            "insufficient_tokens",
            "Not enough tokens for this video.",
            balance=exc.balance,
            required=exc.required,
        )
    except TooManyInFlight as exc:
        return error(
            429,
            "rate_limited",
            f"You have {exc.in_flight} videos in progress, the most at once. Submit again "
            "when one has finished.",
            {"Retry-After": "30"},
            inFlight=exc.in_flight,
            limit=exc.limit,
            charged=False,
        )
    except QueueClosed as exc:
        return error(
            503,
            "queue_unavailable",
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
            "queue_unavailable",
            QUEUE_UNAVAILABLE,
            {"Retry-After": "30", "Location": f"/api/creations/{exc.creation.id}"},
            refunded=exc.refunded,
            charged=not exc.refunded,
            details=details,
            creationId=exc.creation.id,
            balance=exc.balance,
            queueErrorCode=exc.queue_code,
        )
    c = accepted.creation
    return reply(
        202,
        schemas.VideoAccepted(
            creationId=c.id,
            status=c.status.value,
            tokensCharged=0 if accepted.replayed else c.cost,
            balance=accepted.balance,
            replayed=accepted.replayed,
        ),
        {"Location": f"/api/creations/{c.id}"},
    )


@bp.post("/api/generate/image")
def generate_image() -> flask.Response:
    from functions.schemas import ImageRequest
    from shared.services.images import ImageFailed, ImageInProgress, ImageOrder
    from shared.services.images import generate_image as make_image

    deps = app_deps()
    uid = _uid()
    body = validated(ImageRequest)
    key = _idempotency_key()
    try:
        made = make_image(deps, uid, ImageOrder(body.prompt, body.aspectRatio), key)
    except InsufficientTokens as exc:
        return error(
            402,
            "insufficient_tokens",
            "Not enough tokens for this image.",
            balance=exc.balance,
            required=exc.required,
        )
    except ImageInProgress as exc:
        return error(
            409,
            "in_progress",
            "This request is still being processed. Retry shortly.",
            {"Retry-After": "2"},
            creationId=exc.creation.id,
        )
    except ImageFailed as exc:
        return _image_failed(exc)
    c = made.creation
    shown = creation_out(c, deps.media)
    return reply(
        200,
        schemas.ImageMade(
            creationId=c.id,
            status="draft",
            mediaUrl=shown.mediaUrl,
            tokensCharged=0 if made.replayed else c.cost,
            balance=made.balance,
            replayed=made.replayed,
            creation=shown,
        ),
        {"Location": f"/api/creations/{c.id}"},
    )


def _image_failed(exc: Any) -> flask.Response:
    headers: dict[str, str] = {}
    if exc.code == "content_filtered":
        status, code, message = 422, exc.code, "The prompt was blocked by the safety filter."
    elif exc.transient:
        status, code = 503, "generation_unavailable"
        message = "Image generation is temporarily unavailable. Please retry."
        headers["Retry-After"] = "10"
    else:
        status, code, message = 502, "generation_failed", "Image generation failed."
    details = (
        "Your tokens were refunded."
        if exc.refunded
        else "Your tokens will be refunded automatically within minutes."
    )
    return error(
        status,
        code,
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
        flask.abort(invalid({"Idempotency-Key": "1 to 128 visible ASCII characters"}))
    return key


@bp.get("/api/creations/<creation_id>")
def get_creation(creation_id: str) -> flask.Response:
    from shared.services.accounts import own_creation

    uid = _uid()
    if not _ID.match(creation_id):
        raise CreationNotFound(creation_id)
    creation = own_creation(app_deps(), uid, creation_id)
    return reply(200, schemas.CreationAnswer(creation=creation_out(creation, app_deps().media)))


@bp.get("/api/tokens")
def get_tokens() -> flask.Response:
    from shared.services import accounts

    uid = _uid()
    limit, after = _paging()
    deps = app_deps()
    owner = accounts.account(deps, uid)
    page = accounts.ledger(deps, uid, limit, after)
    return reply(
        200,
        schemas.TokensPage(
            balance=owner.tokens,
            totalTokensSpent=owner.total_tokens_spent,
            inFlight=owner.in_flight,
            entries=[
                schemas.LedgerEntryOut(
                    id=e.id,
                    type=e.type.value,
                    amount=e.amount,
                    creationId=e.creation_id,
                    reason=e.reason,
                    createdAt=e.created_at,
                )
                for e in page
            ],
            nextCursor=page.next.encode() if page.next else None,
        ),
    )


@bp.get("/api/creations")
def list_creations() -> flask.Response:
    from shared.domain.creation import Kind, Status
    from shared.services import accounts

    uid = _uid()
    limit, after = _paging()
    kind = _choice("kind", [str(k) for k in Kind])
    status = _choice("status", [str(s) for s in Status])
    deps = app_deps()
    page = accounts.history(deps, uid, kind=kind, status=status, limit=limit, after=after)
    return reply(
        200,
        schemas.CreationPage(
            creations=[creation_out(c, deps.media) for c in page],
            nextCursor=page.next.encode() if page.next else None,
        ),
    )


@bp.post("/api/creations/<creation_id>/cancel")
def cancel(creation_id: str) -> flask.Response:
    from shared.services.cancel import cancel_creation

    uid = _uid()
    if not _ID.match(creation_id):
        raise CreationNotFound(creation_id)
    deps = app_deps()
    try:
        cancelled = cancel_creation(deps, uid, creation_id)
    except NotCancellable as exc:
        return error(409, "not_cancellable", exc.reason, creationStatus=exc.status)
    return reply(
        200,
        schemas.CancelAnswer(
            creation=creation_out(cancelled.creation, deps.media),
            cancelledNow=cancelled.cancelled_now,
            balance=cancelled.balance,
        ),
    )


@bp.get("/api/me")
def me() -> flask.Response:
    from shared.services import accounts

    who = _identity()
    owner = accounts.account(app_deps(), who.uid)
    return reply(
        200,
        schemas.MeAnswer(
            uid=who.uid, admin=who.admin, balance=owner.tokens, inFlight=owner.in_flight
        ),
    )


def _paging() -> tuple[int, Cursor | None]:
    """`limit` (1..100, default 20) and `cursor` (opaque) from the query string, or a 400."""
    args = flask.request.args
    limit = args.get("limit", str(DEFAULT_LIMIT))
    if not re.fullmatch(r"[0-9]{1,3}", limit) or not 1 <= int(limit) <= MAX_LIMIT:
        flask.abort(invalid({"limit": f"an integer from 1 to {MAX_LIMIT}"}))
    raw = args.get("cursor")
    if raw is None:
        return int(limit), None
    try:
        return int(limit), Cursor.decode(raw)
    except ValueError:
        flask.abort(invalid({"cursor": "not a cursor from this API: pass nextCursor as given"}))


def _choice(name: str, options: list[str]) -> str | None:
    value = flask.request.args.get(name)
    if value is not None and value not in options:
        flask.abort(invalid({name: f"one of {', '.join(options)}"}))
    return value


@bp.get("/api/health/queue")
def queue_health() -> flask.Response:
    report = app_deps().queue_health.check()
    body = schemas.QueueHealthOut.model_validate(report.as_json())
    if report.ok:
        return reply(200, body)
    return reply(503, body, {"Retry-After": "10"})


@bp.get("/api/health")
def health() -> flask.Response:
    report = app_deps().system_health.check()
    body = schemas.SystemHealthOut.model_validate(report.as_json())
    if report.ok:
        return reply(200, body)
    return reply(503, body, {"Retry-After": "10"})


@bp.get("/api/openapi.json")
def openapi() -> flask.Response:
    from functions.openapi import document

    return reply(200, document())


@bp.get("/media/<path:key>")
def media(key: str) -> flask.Response:
    """Local mode only: serve what LocalMediaStorage wrote (R2 serves it in production)."""
    deps = app_deps()
    if not deps.settings.is_local:
        flask.abort(404)
    try:
        path, content_type = deps.local_media.open(key)
    except (FileNotFoundError, ValueError):
        flask.abort(404)
    return flask.send_file(path, mimetype=content_type, conditional=True)


def creation_out(c: Creation, media: MediaStorage) -> schemas.CreationOut:
    """A creation as the app sees it. Its media URL is made now from the stored key (a
    presigned link is fresh at every read)."""
    return schemas.CreationOut(
        creationId=c.id,
        kind=c.kind.value,
        status=c.status.value,
        prompt=c.prompt,
        parameters=c.parameters,
        cost=c.cost,
        mediaUrl=_media_url(c, media),
        progress=c.progress,
        errorCode=c.error_code,
        # A fixed sentence per code: a provider's raw message never reaches a user.
        errorMessage=user_message(c.error_code) if c.error_code else None,
        refunded=c.refunded,
        queueErrorCode=c.queue_error_code,
        createdAt=c.created_at,
        updatedAt=c.updated_at,
    )


def _media_url(c: Creation, media: MediaStorage) -> str | None:
    if not c.media_key:
        return None
    try:
        return media.url(c.media_key)
    except StorageError:  # storage misconfigured: the creation still reads, without a link
        events.emit("media.url_failed", logging.ERROR, creationId=c.id)
        return None
