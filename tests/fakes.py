"""An in-memory Store with the same contract as the Firestore adapter, for fast unit tests.

One lock stands in for Firestore's transactions. `fail_next(method, exc)` makes the next call
of a method raise, the way a store outage or a contended transaction would (before anything
is written).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime

from shared.domain import creation as transitions
from shared.domain.creation import TERMINAL, Creation, Refund
from shared.domain.errors import CreationNotFound, DomainError
from shared.domain.idempotency import IdempotencyKey, IdempotencyRecord, record_for, replays
from shared.domain.ledger import (
    Account,
    LedgerEntry,
    after_debit,
    after_refund,
    debit_entry,
    grant_entry,
    refund_entry,
)
from shared.ports import CreationChange, Debited, Refunded


class InMemoryStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.creations: dict[str, Creation] = {}
        self.entries: dict[str, LedgerEntry] = {}
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self._failures: dict[str, list[Exception]] = {}
        self._lock = threading.RLock()

    def fail_next(self, method: str, exc: Exception) -> None:
        self._failures.setdefault(method, []).append(exc)

    def _maybe_fail(self, method: str) -> None:
        failures = self._failures.get(method)
        if failures:
            raise failures.pop(0)

    def _add_entry(self, entry: LedgerEntry) -> None:
        if entry.id in self.entries:  # the create-if-absent precondition of the real store
            raise DomainError(f"ledger entry {entry.id} exists already")
        self.entries[entry.id] = entry

    def ensure_account(self, uid: str, starting_grant: int, now: datetime) -> Account:
        self._maybe_fail("ensure_account")
        with self._lock:
            if uid not in self.accounts:
                self.accounts[uid] = Account(uid, starting_grant)
                if starting_grant:
                    self._add_entry(grant_entry(uid, starting_grant, "starting_grant", now))
            return self.accounts[uid]

    def get_account(self, uid: str) -> Account | None:
        self._maybe_fail("get_account")
        return self.accounts.get(uid)

    def debit_and_create(
        self, creation: Creation, now: datetime, idempotency: IdempotencyKey | None = None
    ) -> Debited:
        self._maybe_fail("debit_and_create")
        with self._lock:
            account = self.accounts.get(creation.user_id) or Account(creation.user_id, 0)
            if idempotency is not None:
                record = self.idempotency.get(idempotency.record_id)
                earlier = self.creations.get(record.creation_id) if record else None
                if replays(record, idempotency, earlier, now):
                    assert earlier is not None
                    return Debited(earlier, account.tokens, replayed=True)
            if creation.id in self.creations:
                raise DomainError(f"creation {creation.id} exists already")
            account = after_debit(account, creation.cost)
            self._add_entry(debit_entry(creation, now))  # first: it may refuse, writing nothing
            self.accounts[account.uid] = account
            self.creations[creation.id] = creation
            if idempotency is not None:
                self.idempotency[idempotency.record_id] = record_for(idempotency, creation.id)
            return Debited(creation, account.tokens)

    def refund(self, creation_id: str, now: datetime, refund: Refund) -> Refunded:
        self._maybe_fail("refund")
        with self._lock:
            creation = self.creations.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            ended = transitions.end_with_refund(creation, now, refund)
            account = self.accounts.get(creation.user_id)
            if ended is None:
                return Refunded(creation, False, account.tokens if account else None)
            account = after_refund(account or Account(creation.user_id, 0), creation.cost)
            self._add_entry(refund_entry(ended, now))
            self.accounts[account.uid] = account
            self.creations[creation_id] = ended
            return Refunded(ended, True, account.tokens)

    def get_creation(self, creation_id: str) -> Creation | None:
        self._maybe_fail("get_creation")
        return self.creations.get(creation_id)

    def update_creation(self, creation_id: str, change: CreationChange) -> tuple[Creation, bool]:
        self._maybe_fail("update_creation")
        with self._lock:
            creation = self.creations.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            changed = change(copy.copy(creation))
            if changed is None:
                return creation, False
            if creation.status in TERMINAL and changed.status != creation.status:
                raise AssertionError("a terminal creation changed state")
            if changed.refunded != creation.refunded:
                raise ValueError("refunds go through Store.refund, with the ledger")
            self.creations[creation_id] = changed
            return changed, True

    def ledger(self, uid: str, limit: int = 20) -> list[LedgerEntry]:
        self._maybe_fail("ledger")
        mine = [e for e in reversed(self.entries.values()) if e.user_id == uid]
        return sorted(mine, key=lambda e: e.created_at, reverse=True)[:limit]  # stable: ties
        # keep the newest write first

    def stale_creations(self, updated_before: datetime, limit: int = 100) -> list[Creation]:
        self._maybe_fail("stale_creations")
        stale = [
            c
            for c in self.creations.values()
            if c.status not in TERMINAL and c.updated_at < updated_before
        ]
        return sorted(stale, key=lambda c: c.updated_at)[:limit]

    def ping(self) -> None:
        self._maybe_fail("ping")
