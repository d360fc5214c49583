"""Images: 1 token, generated synchronously within the request.

debit + creation (one transaction) -> claim -> generate -> store -> draft. Any failure after
the debit refunds at once (one transaction, at most once). If even the refund cannot be
written (the store is down), the creation stays non-terminal and the reconciler fails and
refunds it on its next sweep, so no token is ever lost.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import events
from shared.domain import creation as transitions
from shared.domain.creation import Creation, Kind, Refund, Status
from shared.domain.errors import (
    DomainError,
    GenerationError,
    StorageError,
    StoreContention,
    StoreUnavailable,
)
from shared.domain.idempotency import Endpoint
from shared.domain.ledger import SpendLimits
from shared.domain.media_keys import image_key
from shared.services.videos import remembered_key

if TYPE_CHECKING:
    from shared.services.deps import Deps


@dataclass(frozen=True)
class ImageOrder:
    prompt: str
    aspect_ratio: str = "1:1"

    def as_json(self) -> dict[str, str]:
        return {"prompt": self.prompt, "aspectRatio": self.aspect_ratio}


@dataclass(frozen=True)
class ImageMade:
    creation: Creation
    balance: int
    replayed: bool = False


class ImageInProgress(DomainError):
    """The same idempotency key is being served by another request right now."""

    def __init__(self, creation: Creation) -> None:
        super().__init__(creation.id)
        self.creation = creation


class ImageFailed(DomainError):
    def __init__(
        self,
        creation: Creation,
        code: str,
        *,
        transient: bool,
        refunded: bool,
        balance: int | None,
    ) -> None:
        super().__init__(code)
        self.creation = creation
        self.code = code
        self.transient = transient
        self.refunded = refunded
        self.balance = balance


def generate_image(
    deps: Deps, uid: str, order: ImageOrder, idempotency_key: str | None = None
) -> ImageMade:
    deps.store.ensure_account(uid, deps.policy.starting_grant, deps.clock())
    now = deps.clock()
    creation = Creation(
        id=deps.new_id(),
        user_id=uid,
        kind=Kind.IMAGE,
        prompt=order.prompt,
        parameters={"aspectRatio": order.aspect_ratio},
        cost=deps.policy.price(Kind.IMAGE, {"aspectRatio": order.aspect_ratio}),
        created_at=now,
        updated_at=now,
        deadline_at=now + deps.policy.image_deadline,
    )
    key = remembered_key(deps, uid, idempotency_key, Endpoint.IMAGE, order.as_json())
    debited = deps.store.debit_and_create(
        creation, now, key, SpendLimits(daily=deps.policy.daily_limit)
    )
    if debited.replayed:
        return _replay(debited.creation, debited.balance)

    claim_id = uuid.uuid4().hex
    creation, won = deps.store.update_creation(
        creation.id, lambda c: transitions.claim(c, claim_id, deps.clock())
    )
    if not won:
        raise ImageInProgress(creation)
    events.emit("image.submitted", creationId=creation.id, userId=uid, cost=creation.cost)
    try:
        media = deps.images.generate(order.prompt, order.aspect_ratio)
        media_key = image_key(uid, creation.id, media.extension)
        deps.media.put(media_key, media)
    except GenerationError as exc:
        raise _refund(deps, creation, exc.code, exc.message, exc.transient) from exc
    except StorageError as exc:
        raise _refund(deps, creation, "storage_failed", str(exc), True) from exc
    done, completed = deps.store.update_creation(
        creation.id, lambda c: transitions.complete(c, media_key, deps.clock())
    )
    if not completed:  # ended meanwhile (the reconciler failed and refunded it)
        raise _ended(done, "image_interrupted", transient=True, balance=None)
    events.emit("image.completed", creationId=creation.id, userId=uid)
    return ImageMade(done, debited.balance)


def _replay(creation: Creation, balance: int) -> ImageMade:
    if creation.status is Status.DRAFT:
        return ImageMade(creation, balance, replayed=True)
    if creation.is_terminal:
        raise _ended(creation, "generation_failed", transient=False, balance=balance)
    raise ImageInProgress(creation)


def _ended(creation: Creation, code: str, *, transient: bool, balance: int | None) -> ImageFailed:
    """A creation that ended before its image was made: its own error code, else `code`."""
    return ImageFailed(
        creation,
        creation.error_code or code,
        transient=transient,
        refunded=creation.refunded,
        balance=balance,
    )


def _refund(
    deps: Deps, creation: Creation, code: str, message: str, transient: bool
) -> ImageFailed:
    detail = message or None  # the provider's words, for operators only
    try:
        result = deps.store.refund(creation.id, deps.clock(), Refund(code))
    except (StoreUnavailable, StoreContention):
        # Not ended yet: the reconciler ends it (image_interrupted) and logs its end then.
        events.emit("image.refund_deferred", logging.ERROR, creationId=creation.id,
                    errorCode=code, transient=transient, detail=detail)  # fmt: skip
        return ImageFailed(creation, code, transient=transient, refunded=False, balance=None)
    if result.refunded_now:
        events.ended(result.creation, transient=transient, detail=detail)
    return ImageFailed(
        result.creation,
        code,
        transient=transient,
        refunded=result.creation.refunded,
        balance=result.balance,
    )
