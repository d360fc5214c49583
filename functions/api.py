"""The public `api` function: the routes the app's frontend calls.

Handlers only translate HTTP to service calls; the rules live in shared/services, and the
answer to each domain error in one table (functions/errors.py). Every failure a caller can
cause is a 4xx naming the problem, with a stable `code`. `create_app(deps)` builds the app
from its dependencies (the container in production, fakes in tests).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

import flask
from flask_cors import CORS

from functions import admin, schemas
from functions.errors import HEALTH_RETRY_SECONDS
from functions.http import (
    app_deps,
    idempotency_key,
    install_error_handlers,
    invalid,
    reply,
    validated,
)
from functions.views import entry_out, movement_out
from shared import events
from shared.domain.creation import Creation
from shared.domain.errors import (
    CreationNotFound,
    Forbidden,
    StorageError,
    StoreContention,
    StoreUnavailable,
    Unauthenticated,
)
from shared.domain.failures import user_message
from shared.domain.identity import Identity
from shared.domain.media_keys import attachment, download_name
from shared.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from shared.services.admin import OverviewCache

if TYPE_CHECKING:
    from shared.bootstrap import Container
    from shared.ports import MediaStorage

# Creation ids are ours (hex); a name Firestore reserves (`__x__`) is never one of them.
_ID = re.compile(r"^(?!__.*__$)[A-Za-z0-9_-]{1,64}$")
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
    install_error_handlers(app)  # domain errors answer from functions/errors.py
    app.register_blueprint(bp)
    app.register_blueprint(admin.bp)
    app.extensions["overview"] = OverviewCache()
    return app


def _identity() -> Identity:
    return app_deps().identity.identify(flask.request.headers.get("Authorization"))


def _uid() -> str:
    return _identity().uid


@bp.post("/api/generate/video")
def generate_video() -> flask.Response:
    from functions.schemas import VideoRequest
    from shared.services.videos import VideoOrder, submit_video

    deps = app_deps()
    uid = _uid()
    body = validated(VideoRequest)
    key = idempotency_key()

    accepted = submit_video(deps, uid, VideoOrder(body.prompt, body.parameters()), key)
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
    from shared.services.images import ImageOrder
    from shared.services.images import generate_image as make_image

    deps = app_deps()
    uid = _uid()
    body = validated(ImageRequest)
    key = idempotency_key()
    made = make_image(deps, uid, ImageOrder(body.prompt, body.aspectRatio), key)
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


PRICES_MAX_AGE_SECONDS = 300  # prices change with a deploy only


@bp.get("/api/prices")
def prices() -> flask.Response:
    """What each kind costs, from the Policy that charges (public: the app shows it before
    a submit)."""
    policy = app_deps().policy
    response = reply(
        200,
        schemas.PricesAnswer(
            prices=[
                schemas.PriceOut(kind=kind.value, tokens=tokens, parameters=parameters)
                for kind, parameters, tokens in policy.price_list()
            ]
        ),
    )
    response.headers["Cache-Control"] = f"public, max-age={PRICES_MAX_AGE_SECONDS}"
    return response


@bp.post("/api/credits")
def credit() -> flask.Response:
    """The payments backend adds tokens a user bought: a Google-signed ID token of a service
    account in CREDIT_CALLERS (locally `dev-service:<email>`), once per externalId."""
    from functions.schemas import CreditRequest
    from shared.services import tokens

    deps = app_deps()
    if deps.credit_auth is None:
        raise Forbidden("No payments caller is configured (CREDIT_CALLERS).")
    try:
        caller = deps.credit_auth.verify(flask.request.headers.get("Authorization"))
    except (Unauthenticated, Forbidden) as exc:
        reason = "unauthenticated" if isinstance(exc, Unauthenticated) else "forbidden"
        events.emit("credit.rejected", logging.WARNING, reason=reason)
        raise
    body = validated(CreditRequest)
    moved = tokens.credit(deps, caller, body.externalId, body.uid, body.amount, body.reason)
    return reply(200, movement_out(moved))


@bp.get("/api/creations/<creation_id>")
def get_creation(creation_id: str) -> flask.Response:
    from shared.services.accounts import own_creation

    uid = _uid()
    if not _ID.match(creation_id):
        raise CreationNotFound(creation_id)
    creation = own_creation(app_deps(), uid, creation_id)
    out = creation_out(creation, app_deps().media)
    return reply(200, schemas.CreationAnswer(creation=_with_position(out, creation)))


def _with_position(out: schemas.CreationOut, creation: Creation) -> schemas.CreationOut:
    """A waiting video's place in line; without it when the store cannot count now (the
    creation still reads: the position is a courtesy)."""
    from shared.services.queue_position import queue_position

    try:
        position = queue_position(app_deps(), creation)
    except (StoreUnavailable, StoreContention) as exc:
        events.emit("creation.position_failed", logging.WARNING, creationId=creation.id,
                    error=type(exc).__name__)  # fmt: skip
        return out
    if position is None:
        return out
    return out.model_copy(
        update={"queuePosition": position.ahead, "estimatedStartAt": position.estimated_start_at}
    )


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
            entries=[entry_out(e) for e in page],
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
    cancelled = cancel_creation(deps, uid, creation_id)
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
    return reply(503, body, {"Retry-After": str(HEALTH_RETRY_SECONDS)}, cause=_unhealthy(body))


@bp.get("/api/health")
def health() -> flask.Response:
    report = app_deps().system_health.check()
    body = schemas.SystemHealthOut.model_validate(report.as_json())
    if report.ok:
        return reply(200, body)
    return reply(503, body, {"Retry-After": str(HEALTH_RETRY_SECONDS)}, cause=_unhealthy(body))


def _unhealthy(body: schemas.QueueHealthOut | schemas.SystemHealthOut) -> str:
    return "unhealthy: " + json.dumps(body.model_dump(mode="json", exclude_none=True))


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
    download = flask.request.args.get("download")  # saved as that name, as R2 answers it
    try:
        disposition = attachment(download) if download is not None else None
    except ValueError:
        flask.abort(invalid({"download": "a file name of letters, digits, '.', '_' and '-'"}))
    answer = flask.send_file(path, mimetype=content_type, conditional=True)
    if disposition is not None:
        answer.headers["Content-Disposition"] = disposition
    return answer


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
        downloadUrl=_media_url(c, media, download=True),
        progress=c.progress,
        errorCode=c.error_code,
        # A fixed sentence per code: a provider's raw message never reaches a user.
        errorMessage=user_message(c.error_code) if c.error_code else None,
        refunded=c.refunded,
        queueErrorCode=c.queue_error_code,
        createdAt=c.created_at,
        updatedAt=c.updated_at,
        model=c.model,
        location=c.location,
    )


def _media_url(c: Creation, media: MediaStorage, download: bool = False) -> str | None:
    if not c.media_key:
        return None
    try:
        name = download_name(c.kind, c.id, c.media_key) if download else None
        return media.url(c.media_key, name)
    except StorageError:  # storage misconfigured: the creation still reads, without a link
        events.emit("media.url_failed", logging.ERROR, creationId=c.id)
        return None
