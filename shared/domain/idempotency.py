"""Idempotency keys: a retried request finds what the first one did, and is never charged twice.

A key is remembered per user for `IDEMPOTENCY_KEY_TTL_HOURS` (24 h by default) with the
endpoint it was used on and a fingerprint of the normalised request body, as Stripe does:

- the same key, endpoint and body within that time replays the first request's creation;
- the same key on another endpoint, or with another body, is a conflict (422): the client
  has a bug, and guessing which request it meant could charge it for the wrong thing;
- a request that was refunded before it was accepted (its task could not be queued, or its
  image failed) is not remembered as a result: the same key tries again, charged once more
  only because the first attempt was refunded in full;
- after the time is up the key is forgotten and starts a new creation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.creation import Creation, Kind
from shared.domain.errors import DomainError


class Endpoint(StrEnum):
    VIDEO = "video"
    IMAGE = "image"


class IdempotencyConflict(DomainError):
    """The key was used before for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fingerprint(payload: dict[str, Any]) -> str:
    """A digest of the normalised body: key order and spacing do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key, as the store remembers it (only a digest of the key is stored)."""

    user_id: str
    key: str
    endpoint: Endpoint
    fingerprint: str
    expires_at: datetime

    @property
    def record_id(self) -> str:
        return hashlib.sha256(f"{self.user_id}\n{self.key}".encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyRecord:
    user_id: str
    endpoint: Endpoint
    fingerprint: str
    creation_id: str
    expires_at: datetime


def record_for(key: IdempotencyKey, creation_id: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        key.user_id, key.endpoint, key.fingerprint, creation_id, key.expires_at
    )


def refunded_before_accepted(c: Creation) -> bool:
    """The request that made it answered an error and refunded it: a video whose task could
    not be queued, or an image (made within its request) that failed."""
    return c.refunded and (c.kind is Kind.IMAGE or c.queue_error_code is not None)


def replays(
    record: IdempotencyRecord | None,
    key: IdempotencyKey,
    creation: Creation | None,
    now: datetime,
) -> bool:
    """True: answer with `creation`, charge nothing. False: a new attempt under this key.
    Raises IdempotencyConflict when the key was used for another request."""
    if record is None or record.expires_at <= now or record.user_id != key.user_id:
        return False
    if record.endpoint != key.endpoint:
        raise IdempotencyConflict(
            f"this Idempotency-Key was used for a {record.endpoint} request; "
            "use a new key for each request"
        )
    if record.fingerprint != key.fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request body; "
            "use a new key for each request"
        )
    return creation is not None and not refunded_before_accepted(creation)
