"""Errors to HTTP: the one table from what went wrong to the answer a caller gets.

Each row maps an error (a domain error, a service's outcome, an HTTP error of werkzeug)
to its status, its stable `code` (README's error table lists them), the sentence for
people, its `Retry-After` and the fields a program reads. Handlers raise; the apps answer
from this table (`functions.http.install_error_handlers`), so each rule is written once,
for the api, its operator routes and the worker alike.

Each `Retry-After` is named below; the ones that depend on the business rules are
derived from the Policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException

from shared.domain.errors import (
    BalanceTooLow,
    CreationNotFound,
    DailyLimitReached,
    Forbidden,
    IdentityUnavailable,
    InsufficientTokens,
    NotCancellable,
    QueueError,
    StoreContention,
    StoreUnavailable,
    TooManyInFlight,
    Unauthenticated,
)
from shared.domain.idempotency import IdempotencyConflict
from shared.services.admin import QueueChangeFailed, QueueUnchanged
from shared.services.images import ImageFailed, ImageInProgress
from shared.services.videos import EnqueueFailed, QueueClosed

if TYPE_CHECKING:
    from shared.services.deps import Policy

# -- Retry-After, in seconds --------------------------------------------------------------
# A transaction met another one on the same account: the next attempt usually goes through.
BUSY_RETRY_SECONDS = 1
# The same Idempotency-Key's image is being made by another request (an image takes seconds).
IMAGE_IN_PROGRESS_RETRY_SECONDS = 2
# The store or the identity keys failed for a moment (each store call waits at most 5 s).
STORE_RETRY_SECONDS = 5
IDENTITY_RETRY_SECONDS = 5
# The image generator is busy or down.
GENERATION_RETRY_SECONDS = 10
# The queue cannot take tasks: an outage or a pause lasts minutes, not seconds.
QUEUE_RETRY_SECONDS = 30
# An operator's pause or resume did not reach the queue.
QUEUE_CHANGE_RETRY_SECONDS = 10
# /api/health and /api/health/queue answering 503.
HEALTH_RETRY_SECONDS = 10
# The fastest a video generation ends (Veo: 60 s to 6 min, docs/DESIGN.md).
SHORTEST_VIDEO_SECONDS = 60


def rate_limited_retry_seconds(policy: Policy) -> int:
    """When one of the videos in flight can have ended, at the soonest: the shortest
    generation, then the poll that sees it done (at most `poll_max_seconds` later)."""
    return math.ceil(SHORTEST_VIDEO_SECONDS + policy.poll_max_seconds)


QUEUE_UNAVAILABLE = "Video generation queue is unavailable. Please retry shortly."
SERVICE_UNAVAILABLE = (
    "The service is temporarily unavailable. Please retry shortly; a request that was "
    "charged is completed or refunded automatically (retry with the same Idempotency-Key "
    "to find it)."
)


@dataclass(frozen=True)
class Answer:
    """An error answer: `{"success": false, "code", "error", **fields}` + headers."""

    status: int
    code: str
    message: str
    retry_after: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _refund_details(refunded: bool, later: str) -> str:
    return "Your tokens were refunded." if refunded else later


def _unauthenticated(exc: Unauthenticated, _p: Policy | None) -> Answer:
    # The identity adapters' messages are written to be shown (shared/adapters/*identity*).
    return Answer(
        401,
        "unauthenticated",
        str(exc) or "authentication required",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _forbidden(exc: Forbidden, _p: Policy | None) -> Answer:
    return Answer(403, "forbidden", str(exc) or "not allowed")


def _identity_unavailable(_exc: IdentityUnavailable, _p: Policy | None) -> Answer:
    return Answer(
        503,
        "identity_unavailable",
        "Sign-in cannot be checked right now. Please retry shortly.",
        IDENTITY_RETRY_SECONDS,
    )


def _not_found(_exc: CreationNotFound, _p: Policy | None) -> Answer:
    return Answer(404, "not_found", "creation not found")


def _contention(_exc: StoreContention, _p: Policy | None) -> Answer:
    return Answer(
        409,
        "busy",
        "Too many simultaneous requests on this account. Please retry.",
        BUSY_RETRY_SECONDS,
        {"retryable": True},
    )


def _store_unavailable(_exc: StoreUnavailable, _p: Policy | None) -> Answer:
    return Answer(
        503, "service_unavailable", SERVICE_UNAVAILABLE, STORE_RETRY_SECONDS, {"retryable": True}
    )


def _idempotency_conflict(exc: IdempotencyConflict, _p: Policy | None) -> Answer:
    return Answer(422, "idempotency_conflict", exc.message)


def _insufficient(exc: InsufficientTokens, _p: Policy | None) -> Answer:
    return Answer(
        402,
        "insufficient_tokens",
        f"Not enough tokens: this costs {exc.required} and your balance is {exc.balance}.",
        fields={"balance": exc.balance, "required": exc.required},
    )


def _too_many(exc: TooManyInFlight, policy: Policy | None) -> Answer:
    return Answer(
        429,
        "rate_limited",
        f"You have {exc.in_flight} videos in progress, the most at once. Submit again when "
        "one has finished.",
        rate_limited_retry_seconds(policy) if policy else None,
        {"inFlight": exc.in_flight, "limit": exc.limit, "charged": False},
    )


def _daily_limit(exc: DailyLimitReached, _p: Policy | None) -> Answer:
    """Past the day's spending cap (DAILY_SPEND_LIMIT_TOKENS): nothing charged; the
    allowance is whole again at midnight UTC."""
    resets = exc.resets_at
    return Answer(
        429,
        "daily_limit",
        f"You have spent {exc.spent} of your {exc.limit} tokens for today and this costs "
        f"{exc.cost}. The limit resets at {resets.strftime('%H:%M')} UTC.",
        exc.wait_seconds,
        {
            "limit": exc.limit,
            "spentToday": exc.spent,
            "required": exc.cost,
            "resetsAt": resets.isoformat(),
            "charged": False,
        },
    )


def _balance_too_low(exc: BalanceTooLow, _p: Policy | None) -> Answer:
    return Answer(
        409,
        "balance_too_low",
        f"The balance is {exc.balance}: a correction of {exc.amount} would take it below "
        "zero. Nothing was changed.",
        fields={"balance": exc.balance},
    )


def _queue_closed(exc: QueueClosed, _p: Policy | None) -> Answer:
    return Answer(
        503,
        "queue_unavailable",
        QUEUE_UNAVAILABLE,
        QUEUE_RETRY_SECONDS,
        {"refunded": False, "charged": False, "queue": exc.report.as_json()},
    )


def _enqueue_failed(exc: EnqueueFailed, _p: Policy | None) -> Answer:
    details = _refund_details(
        exc.refunded,
        "The refund could not be recorded yet: this creation will be generated or refunded "
        "automatically within minutes. Follow it at its Location.",
    )
    return Answer(
        503,
        "queue_unavailable",
        QUEUE_UNAVAILABLE,
        QUEUE_RETRY_SECONDS,
        {
            "refunded": exc.refunded,
            "charged": not exc.refunded,
            "details": details,
            "creationId": exc.creation.id,
            "balance": exc.balance,
            "queueErrorCode": exc.queue_code,
        },
        {"Location": f"/api/creations/{exc.creation.id}"},
    )


def _queue_error(exc: QueueError, _p: Policy | None) -> Answer:
    """The queue did not answer (an operator's pause or resume: the submit path answers
    EnqueueFailed or QueueClosed instead)."""
    return Answer(
        503,
        "queue_unavailable",
        "The task queue did not answer. Please retry shortly.",
        QUEUE_CHANGE_RETRY_SECONDS,
        {"queueErrorCode": exc.code},
    )


# -- the operator's routes (functions/admin.py): sentences for operators, not users -------

_QUEUE_PARTICIPLE = {"pause": "paused", "resume": "resumed"}


def _queue_unchanged(exc: QueueUnchanged, _p: Policy | None) -> Answer:
    return Answer(
        409,
        "queue_unchanged",
        f"The queue is {exc.state.value} already: nothing was changed and nothing was recorded.",
    )


def _queue_change_failed(exc: QueueChangeFailed, _p: Policy | None) -> Answer:
    """The codes are the submit path's (`queue_unavailable`: the queue did not take it, so
    nothing was recorded either; `service_unavailable`: the queue took it, the store did not
    keep who and why), the sentences an operator's: what failed, what is true now, what to
    do."""
    done = _QUEUE_PARTICIPLE.get(exc.action, exc.action)
    if exc.applied:
        code = "service_unavailable"
        message = (
            f"The queue is {done}, but who did it and why could not be recorded (the store "
            f"did not answer: {exc.code})."
        )
        details = f"{exc.action.capitalize()} again in a moment to record it."
    else:
        code = "queue_unavailable"
        now = "still accepts new videos" if exc.action == "pause" else "is still paused"
        message = (
            f"The queue was not {done}: Cloud Tasks did not answer ({exc.code}), so it {now}; "
            "nothing was recorded."
        )
        details = (
            "Try again in a moment; if it keeps failing, check the queue in the Cloud "
            "console (Cloud Tasks) and the api's logs."
        )
    return Answer(
        503,
        code,
        message,
        QUEUE_CHANGE_RETRY_SECONDS,
        {"details": details, "queueErrorCode": exc.code},
    )


def _not_cancellable(exc: NotCancellable, _p: Policy | None) -> Answer:
    return Answer(409, "not_cancellable", exc.reason, fields={"creationStatus": exc.status})


def _image_in_progress(exc: ImageInProgress, _p: Policy | None) -> Answer:
    return Answer(
        409,
        "in_progress",
        "This request is still being processed. Retry shortly.",
        IMAGE_IN_PROGRESS_RETRY_SECONDS,
        {"creationId": exc.creation.id},
    )


def _image_failed(exc: ImageFailed, _p: Policy | None) -> Answer:
    fields = {
        "refunded": exc.refunded,
        "details": _refund_details(
            exc.refunded, "Your tokens will be refunded automatically within minutes."
        ),
        "errorCode": exc.code,
        "creationId": exc.creation.id,
        "balance": exc.balance,
    }
    if exc.code == "content_filtered":
        return Answer(422, exc.code, "The prompt was blocked by the safety filter.", fields=fields)
    if exc.transient:
        return Answer(
            503,
            "generation_unavailable",
            "Image generation is temporarily unavailable. Please retry.",
            GENERATION_RETRY_SECONDS,
            fields,
        )
    return Answer(502, "generation_failed", "Image generation failed.", fields=fields)


# werkzeug's own errors (routing, methods, bodies): status -> code and sentence.
HTTP_CODES = {
    400: ("invalid_request", "the request is not valid"),
    404: ("not_found", "not found"),
    405: ("method_not_allowed", "method not allowed"),
    413: ("payload_too_large", "the body is too large"),
    415: ("unsupported_media_type", "Content-Type must be application/json"),
}


def _http(exc: HTTPException, _p: Policy | None) -> Answer:
    status = exc.code or 500
    code, message = HTTP_CODES.get(status, ("http_error", exc.name))
    # Keep what the exception says about itself, e.g. `Allow` on a 405.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return Answer(status, code, message, headers=headers)


def _internal(_exc: Exception, _p: Policy | None) -> Answer:
    return Answer(500, "internal", "internal error")


# A rule gets the error and the Policy (None outside our apps: functions-framework's own).
Rule = Callable[[Any, "Policy | None"], Answer]

# The table. A subclass finds its own row first, then its bases' (by the class's MRO).
TABLE: dict[type[Exception], Rule] = {
    Unauthenticated: _unauthenticated,
    Forbidden: _forbidden,
    IdentityUnavailable: _identity_unavailable,
    CreationNotFound: _not_found,
    StoreContention: _contention,
    StoreUnavailable: _store_unavailable,
    IdempotencyConflict: _idempotency_conflict,
    InsufficientTokens: _insufficient,
    TooManyInFlight: _too_many,
    DailyLimitReached: _daily_limit,
    BalanceTooLow: _balance_too_low,
    QueueClosed: _queue_closed,
    EnqueueFailed: _enqueue_failed,
    QueueError: _queue_error,
    QueueUnchanged: _queue_unchanged,
    QueueChangeFailed: _queue_change_failed,
    NotCancellable: _not_cancellable,
    ImageInProgress: _image_in_progress,
    ImageFailed: _image_failed,
    HTTPException: _http,
    Exception: _internal,  # anything else is a bug: 500, logged with its traceback
}


def answer_for(exc: Exception, policy: Policy | None) -> Answer:
    """The answer for `exc`, from its row of the table."""
    for kind in type(exc).__mro__:
        rule = TABLE.get(kind)
        if rule is not None:
            return rule(exc, policy)
    return _internal(exc, policy)  # pragma: no cover (Exception is in the table)
