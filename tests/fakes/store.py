"""An in-memory Store with the same contract as the Firestore adapter, for fast unit tests.

One lock stands in for Firestore's transactions. `fail_next(method, exc)` makes the next call
of a method raise, the way a store outage or a contended transaction would (before anything
is written).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import datetime
from typing import Protocol, TypeVar

from shared.domain import creation as transitions
from shared.domain.creation import TERMINAL, Creation, CreationSummary, Refund, Status
from shared.domain.errors import CreationNotFound, DomainError
from shared.domain.idempotency import IdempotencyKey, IdempotencyRecord, record_for, replays
from shared.domain.ledger import (
    Account,
    LedgerEntry,
    after_debit,
    after_end,
    after_refund,
    counts_in_flight,
    debit_entry,
    grant_entry,
    refund_entry,
)
from shared.domain.paging import Cursor, Page
from shared.ports import CreationChange, Debited, QueueChange, Refunded


class InMemoryStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.by_id: dict[str, Creation] = {}
        self.entries: dict[str, LedgerEntry] = {}
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self.queue_changes: list[QueueChange] = []
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

    def find_replay(self, idempotency: IdempotencyKey, now: datetime) -> Debited | None:
        self._maybe_fail("find_replay")
        with self._lock:
            earlier = self._replayed(idempotency, now)
            if earlier is None:
                return None
            account = self.accounts.get(earlier.user_id) or Account(earlier.user_id, 0)
            return Debited(earlier, account.tokens, replayed=True)

    def _replayed(self, idempotency: IdempotencyKey, now: datetime) -> Creation | None:
        record = self.idempotency.get(idempotency.record_id)
        earlier = self.by_id.get(record.creation_id) if record else None
        return earlier if replays(record, idempotency, earlier, now) else None

    def debit_and_create(
        self,
        creation: Creation,
        now: datetime,
        idempotency: IdempotencyKey | None = None,
        in_flight_limit: int | None = None,
    ) -> Debited:
        self._maybe_fail("debit_and_create")
        with self._lock:
            account = self.accounts.get(creation.user_id) or Account(creation.user_id, 0)
            earlier = self._replayed(idempotency, now) if idempotency else None
            if earlier is not None:
                return Debited(earlier, account.tokens, replayed=True)
            if creation.id in self.by_id:
                raise DomainError(f"creation {creation.id} exists already")
            account = after_debit(account, creation, in_flight_limit)
            self._add_entry(debit_entry(creation, now))  # first: it may refuse, writing nothing
            self.accounts[account.uid] = account
            self.by_id[creation.id] = creation
            if idempotency is not None:
                self.idempotency[idempotency.record_id] = record_for(idempotency, creation.id)
            return Debited(creation, account.tokens)

    def refund(self, creation_id: str, now: datetime, refund: Refund) -> Refunded:
        self._maybe_fail("refund")
        with self._lock:
            creation = self.by_id.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            ended = transitions.end_with_refund(creation, now, refund)
            account = self.accounts.get(creation.user_id)
            if ended is None:
                return Refunded(creation, False, account.tokens if account else None)
            account = after_refund(account or Account(creation.user_id, 0), creation)
            self._add_entry(refund_entry(ended, now))
            self.accounts[account.uid] = account
            self.by_id[creation_id] = ended
            return Refunded(ended, True, account.tokens)

    def get_creation(self, creation_id: str) -> Creation | None:
        self._maybe_fail("get_creation")
        return self.by_id.get(creation_id)

    def update_creation(self, creation_id: str, change: CreationChange) -> tuple[Creation, bool]:
        self._maybe_fail("update_creation")
        with self._lock:
            creation = self.by_id.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            changed = change(copy.copy(creation))
            if changed is None:
                return creation, False
            if creation.status in TERMINAL and changed.status != creation.status:
                raise AssertionError("a terminal creation changed state")
            if changed.refunded != creation.refunded:
                raise ValueError("refunds go through Store.refund, with the ledger")
            ends = changed.is_terminal and not creation.is_terminal
            account = self.accounts.get(creation.user_id)
            if ends and counts_in_flight(creation) and account is not None:
                self.accounts[account.uid] = after_end(account, creation)
            self.by_id[creation_id] = changed
            return changed, True

    def ledger(self, uid: str, limit: int = 20, after: Cursor | None = None) -> Page[LedgerEntry]:
        self._maybe_fail("ledger")
        with self._lock:
            mine = [e for e in self.entries.values() if e.user_id == uid]
        return _page(mine, limit, after)

    def creations(
        self,
        uid: str,
        *,
        kind: str | None = None,
        status: str | None = None,
        limit: int = 20,
        after: Cursor | None = None,
    ) -> Page[Creation]:
        self._maybe_fail("creations")
        with self._lock:
            mine = [
                c
                for c in self.by_id.values()
                if c.user_id == uid
                and (kind is None or c.kind == kind)
                and (status is None or c.status == status)
            ]
        return _page(mine, limit, after)

    def recount_in_flight(self, uid: str) -> tuple[int, int]:
        self._maybe_fail("recount_in_flight")
        with self._lock:
            account = self.accounts.get(uid)
            if account is None:
                return 0, 0
            actual = sum(
                1
                for c in self.by_id.values()
                if c.user_id == uid and counts_in_flight(c) and c.status not in TERMINAL
            )
            self.accounts[uid] = dataclasses.replace(account, in_flight=actual)
            return account.in_flight, actual

    def users_in_flight(self, limit: int = 100) -> list[str]:
        self._maybe_fail("users_in_flight")
        return [a.uid for a in self.accounts.values() if a.in_flight > 0][:limit]

    def recent_creations(
        self, since: datetime, limit: int, statuses: tuple[Status, ...] | None = None
    ) -> list[CreationSummary]:
        self._maybe_fail("recent_creations")
        recent = self._since(since, statuses)
        recent.sort(key=lambda c: c.created_at, reverse=True)
        return [CreationSummary.of(c) for c in recent[:limit]]

    def count_creations(self, since: datetime, status: Status | None = None) -> int:
        self._maybe_fail("count_creations")
        return len(self._since(since, (status,) if status else None))

    def _since(self, since: datetime, statuses: tuple[Status, ...] | None) -> list[Creation]:
        with self._lock:
            return [
                c
                for c in self.by_id.values()
                if c.created_at >= since and (statuses is None or c.status in statuses)
            ]

    def latest_failures(self, limit: int) -> list[CreationSummary]:
        self._maybe_fail("latest_failures")
        with self._lock:
            failed = [c for c in self.by_id.values() if c.status is Status.FAILED]
        failed.sort(key=lambda c: c.updated_at, reverse=True)
        return [CreationSummary.of(c) for c in failed[:limit]]

    def record_queue_change(self, change: QueueChange) -> None:
        self._maybe_fail("record_queue_change")
        self.queue_changes.append(change)

    def last_queue_change(self) -> QueueChange | None:
        self._maybe_fail("last_queue_change")
        return max(self.queue_changes, key=lambda c: c.at, default=None)

    def stale_creations(self, updated_before: datetime, limit: int = 100) -> list[Creation]:
        self._maybe_fail("stale_creations")
        stale = [
            c
            for c in self.by_id.values()
            if c.status not in TERMINAL and c.updated_at < updated_before
        ]
        return sorted(stale, key=lambda c: c.updated_at)[:limit]

    def ping(self) -> None:
        self._maybe_fail("ping")


class _Dated(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


D = TypeVar("D", bound=_Dated)


def _page(items: list[D], limit: int, after: Cursor | None) -> Page[D]:
    """Newest first by (createdAt, id), as Firestore orders them."""
    ordered = sorted(items, key=lambda x: (x.created_at, x.id), reverse=True)
    if after is not None:
        ordered = [x for x in ordered if (x.created_at, x.id) < (after.created_at, after.id)]
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page(page, Cursor(page[-1].created_at, page[-1].id) if more else None)
