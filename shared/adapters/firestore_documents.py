"""How accounts, creations and ledger entries look as Firestore documents (camelCase fields).

users/{uid}          tokens, totalTokensSpent, inFlight, spentDay, spentToday, createdAt,
                     updatedAt
creations/{id}       userId, kind, prompt, parameters, status, cost, createdAt, updatedAt,
                     deadlineAt, operationName, mediaKey, errorCode, errorMessage, refunded,
                     queueErrorCode, attempts, progress, claimId, claimedAt, requeues, model,
                     location
transactions/{id}    userId, type (grant | adjustment | credit | debit | refund), amount,
                     creationId, reason, createdAt; grants, adjustments and credits also
                     by, fingerprint, balanceAfter (and a credit its externalId)
queueChanges/{auto} action (pause | resume), by, at, reason: operators' pauses and resumes
idempotencyKeys/{sha256(uid, key)}
                     userId, endpoint, fingerprint, creationId, expiresAt (a TTL policy on
                     expiresAt lets Firestore delete old ones; reads check it themselves)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.creation import Creation, CreationSummary, Kind, Status
from shared.domain.idempotency import Endpoint, IdempotencyRecord
from shared.domain.ledger import Account, EntryType, LedgerEntry
from shared.ports import QueueChange

USERS = "users"
CREATIONS = "creations"
TRANSACTIONS = "transactions"
IDEMPOTENCY_KEYS = "idempotencyKeys"
QUEUE_CHANGES = "queueChanges"
SUMMARY_FIELDS = [
    "userId",
    "kind",
    "status",
    "createdAt",
    "updatedAt",
    "errorCode",
    "queueErrorCode",
    "refunded",
]

_CREATION_FIELDS = {
    # attribute -> document field
    "user_id": "userId",
    "kind": "kind",
    "prompt": "prompt",
    "parameters": "parameters",
    "cost": "cost",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "deadline_at": "deadlineAt",
    "status": "status",
    "operation_name": "operationName",
    "media_key": "mediaKey",
    "error_code": "errorCode",
    "error_message": "errorMessage",
    "refunded": "refunded",
    "queue_error_code": "queueErrorCode",
    "attempts": "attempts",
    "progress": "progress",
    "claim_id": "claimId",
    "claimed_at": "claimedAt",
    "requeues": "requeues",
    "model": "model",
    "location": "location",
}


def creation_to_doc(c: Creation) -> dict[str, Any]:
    doc = {field: getattr(c, attr) for attr, field in _CREATION_FIELDS.items()}
    doc["kind"] = str(c.kind)
    doc["status"] = str(c.status)
    return doc


def creation_changes(before: Creation, after: Creation) -> dict[str, Any]:
    """Only the fields that changed, for a transaction.update()."""
    old, new = creation_to_doc(before), creation_to_doc(after)
    return {field: value for field, value in new.items() if old[field] != value}


def creation_from_doc(creation_id: str, doc: dict[str, Any]) -> Creation:
    """A stored creation, field by field: a document of another shape raises (KeyError,
    ValueError) instead of becoming a Creation with wrong types."""

    def text(name: str) -> str | None:
        value = doc.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"creation {creation_id}: {name} is not text")
        return value

    def when(name: str) -> datetime | None:
        value = doc.get(name)
        if value is not None and not isinstance(value, datetime):
            raise ValueError(f"creation {creation_id}: {name} is not a timestamp")
        return value

    def required_when(name: str) -> datetime:
        value = when(name)
        if value is None:
            raise ValueError(f"creation {creation_id}: {name} is missing")
        return value

    return Creation(
        id=creation_id,
        user_id=str(doc["userId"]),
        kind=Kind(doc["kind"]),
        prompt=str(doc.get("prompt", "")),
        parameters=dict(doc.get("parameters") or {}),
        cost=int(doc["cost"]),
        created_at=required_when("createdAt"),
        updated_at=required_when("updatedAt"),
        deadline_at=required_when("deadlineAt"),
        status=Status(doc["status"]),
        operation_name=text("operationName"),
        media_key=text("mediaKey"),
        error_code=text("errorCode"),
        error_message=text("errorMessage"),
        refunded=bool(doc.get("refunded")),
        queue_error_code=text("queueErrorCode"),
        attempts=int(doc.get("attempts") or 0),
        progress=int(doc.get("progress") or 0),
        claim_id=text("claimId"),
        claimed_at=when("claimedAt"),
        requeues=int(doc.get("requeues") or 0),
        model=text("model"),
        location=text("location"),
    )


def account_to_doc(a: Account, now: datetime | None, *, created: bool = False) -> dict[str, Any]:
    """The account's fields; `updatedAt` (and `createdAt` when `created`) at `now`, left as
    they are when `now` is None (a counter the user did not move)."""
    doc: dict[str, Any] = {
        "tokens": a.tokens,
        "totalTokensSpent": a.total_tokens_spent,
        "inFlight": a.in_flight,
    }
    if a.spent_day:
        doc["spentDay"] = a.spent_day
        doc["spentToday"] = a.spent_today
    if now is not None:
        doc["updatedAt"] = now
        if created:
            doc["createdAt"] = now
    return doc


def account_from_doc(uid: str, doc: dict[str, Any]) -> Account:
    return Account(
        uid,
        int(doc.get("tokens", 0)),
        int(doc.get("totalTokensSpent", 0)),
        int(doc.get("inFlight", 0)),
        str(doc.get("spentDay") or ""),
        int(doc.get("spentToday") or 0),
    )


def entry_to_doc(e: LedgerEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "userId": e.user_id,
        "type": str(e.type),
        "amount": e.amount,
        "creationId": e.creation_id,
        "reason": e.reason,
        "createdAt": e.created_at,
    }
    extra = {
        "by": e.by,
        "externalId": e.external_id,
        "fingerprint": e.fingerprint,
        "balanceAfter": e.balance_after,
    }
    doc.update((k, v) for k, v in extra.items() if v is not None)
    return doc


def entry_from_doc(entry_id: str, doc: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        id=entry_id,
        user_id=doc["userId"],
        type=EntryType(doc["type"]),
        amount=int(doc["amount"]),
        created_at=doc["createdAt"],
        creation_id=doc.get("creationId"),
        reason=doc.get("reason", ""),
        by=doc.get("by"),
        external_id=doc.get("externalId"),
        fingerprint=doc.get("fingerprint"),
        balance_after=doc.get("balanceAfter"),
    )


def idempotency_to_doc(r: IdempotencyRecord) -> dict[str, Any]:
    return {
        "userId": r.user_id,
        "endpoint": str(r.endpoint),
        "fingerprint": r.fingerprint,
        "creationId": r.creation_id,
        "expiresAt": r.expires_at,
    }


def idempotency_from_doc(doc: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=doc["userId"],
        endpoint=Endpoint(doc["endpoint"]),
        fingerprint=doc["fingerprint"],
        creation_id=doc["creationId"],
        expires_at=doc["expiresAt"],
    )


def summary_from_doc(creation_id: str, doc: dict[str, Any]) -> CreationSummary:
    return CreationSummary(
        id=creation_id,
        user_id=doc["userId"],
        kind=Kind(doc["kind"]),
        status=Status(doc["status"]),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        error_code=doc.get("errorCode"),
        queue_error_code=doc.get("queueErrorCode"),
        refunded=bool(doc.get("refunded")),
    )


def queue_change_to_doc(c: QueueChange) -> dict[str, Any]:
    return {"action": c.action, "by": c.by, "at": c.at, "reason": c.reason}


def queue_change_from_doc(doc: dict[str, Any]) -> QueueChange:
    return QueueChange(doc["action"], doc["by"], doc["at"], doc.get("reason", ""))
