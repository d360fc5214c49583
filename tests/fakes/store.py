"""An in-memory Store and StoreQueries with the same contract as the Firestore adapter, for
fast unit tests. Its transactions read, let `shared.domain.money` decide, and write, as the
Firestore adapter's do: the two differ only in how they read and write.

One lock stands in for Firestore's transactions. `fail_next(method, exc)` makes the next call
of a method raise, the way a store outage or a contended transaction would (before anything
is written).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime
from typing import Protocol, TypeVar

from shared.domain import money
from shared.domain.creation import (
    ALL,
    TERMINAL,
    Creation,
    CreationFilter,
    CreationSummary,
    Refund,
    Status,
)
from shared.domain.errors import CreationNotFound, DomainError
from shared.domain.grants import Moved, Movement
from shared.domain.idempotency import IdempotencyKey, IdempotencyRecord
from shared.domain.ledger import (
    NO_LIMITS,
    Account,
    EntryType,
    LedgerEntry,
    SpendLimits,
    counts_in_flight,
)
from shared.domain.money import Debited, Refunded, Writes
from shared.domain.paging import Cursor, Page
from shared.ports import CreationChange, EntryTotals, QueueChange


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

    # -- writing what a money transaction decides (shared.domain.money) -----------------

    def _write(self, writes: Writes) -> None:
        """Apply a decision at once, or nothing: the create-if-absent preconditions of the
        real store (a ledger entry, a creation, an account) are checked first."""
        for entry in writes.entries:
            if entry.id in self.entries:
                raise DomainError(f"ledger entry {entry.id} exists already")
        if writes.creates_creation and writes.creation and writes.creation.id in self.by_id:
            raise DomainError(f"creation {writes.creation.id} exists already")
        if writes.opens_account and writes.account and writes.account.uid in self.accounts:
            raise DomainError(f"account {writes.account.uid} exists already")
        self.entries.update((entry.id, entry) for entry in writes.entries)
        if writes.account is not None:
            self.accounts[writes.account.uid] = writes.account
        if writes.creation is not None:
            self.by_id[writes.creation.id] = writes.creation
        if writes.idempotency is not None and writes.key_id is not None:
            self.idempotency[writes.key_id] = writes.idempotency

    def _read_key(self, key: IdempotencyKey) -> tuple[IdempotencyRecord | None, Creation | None]:
        record = self.idempotency.get(key.record_id)
        return record, self.by_id.get(record.creation_id) if record else None

    # -- transactions: read, decide, write ---------------------------------------------

    def ensure_account(self, uid: str, starting_grant: int, now: datetime) -> Account:
        self._maybe_fail("ensure_account")
        with self._lock:
            found = self.accounts.get(uid)
            account, writes = money.open_account(uid, found, starting_grant, now)
            self._write(writes)
            return account

    def debit_and_create(
        self,
        c: Creation,
        now: datetime,
        key: IdempotencyKey | None = None,
        limits: SpendLimits = NO_LIMITS,
    ) -> Debited:
        self._maybe_fail("debit_and_create")
        with self._lock:
            account = self.accounts.get(c.user_id)
            record, earlier = self._read_key(key) if key else (None, None)
            debited, writes = money.debit(c, account, now, key, record, earlier, limits)
            self._write(writes)
            return debited

    def move_tokens(self, m: Movement, starting_grant: int, now: datetime) -> Moved:
        self._maybe_fail("move_tokens")
        with self._lock:
            existing = self.entries.get(m.entry_id)
            account = self.accounts.get(m.uid)
            moved, writes = money.move(m, existing, account, starting_grant, now)
            self._write(writes)
            return moved

    def refund(self, creation_id: str, now: datetime, refund: Refund) -> Refunded:
        self._maybe_fail("refund")
        with self._lock:
            creation = self.by_id.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            account = self.accounts.get(creation.user_id)
            refunded, writes = money.refund(creation, account, now, refund)
            self._write(writes)
            return refunded

    def update_creation(self, creation_id: str, change: CreationChange) -> tuple[Creation, bool]:
        self._maybe_fail("update_creation")
        with self._lock:
            creation = self.by_id.get(creation_id)
            if creation is None:
                raise CreationNotFound(creation_id)
            changed = change(copy.copy(creation))
            account = self.accounts.get(creation.user_id)
            stored, applied, writes = money.change(creation, changed, account)
            self._write(writes)
            return stored, applied

    def recount_in_flight(self, uid: str) -> tuple[int, int]:
        self._maybe_fail("recount_in_flight")
        with self._lock:
            unfinished = sum(
                1
                for c in self.by_id.values()
                if c.user_id == uid and counts_in_flight(c) and not c.is_terminal
            )
            counts, writes = money.recount(self.accounts.get(uid), unfinished)
            self._write(writes)
            return counts

    def record_queue_change(self, change: QueueChange) -> None:
        self._maybe_fail("record_queue_change")
        self.queue_changes.append(change)

    # -- queries: StoreQueries ----------------------------------------------------------

    def get_account(self, uid: str) -> Account | None:
        self._maybe_fail("get_account")
        return self.accounts.get(uid)

    def get_creation(self, creation_id: str) -> Creation | None:
        self._maybe_fail("get_creation")
        return self.by_id.get(creation_id)

    def find_replay(self, idempotency: IdempotencyKey, now: datetime) -> Debited | None:
        self._maybe_fail("find_replay")
        with self._lock:
            record, earlier = self._read_key(idempotency)
            account = self.accounts.get(idempotency.user_id)
            return money.replay(idempotency, record, earlier, account, now)

    def ledger(self, uid: str, limit: int = 20, after: Cursor | None = None) -> Page[LedgerEntry]:
        self._maybe_fail("ledger")
        with self._lock:
            mine = [e for e in self.entries.values() if e.user_id == uid]
        return _page(mine, limit, after)

    def creations(
        self, uid: str, only: CreationFilter = ALL, limit: int = 20, after: Cursor | None = None
    ) -> Page[Creation]:
        self._maybe_fail("creations")
        with self._lock:
            mine = [c for c in self.by_id.values() if c.user_id == uid and only.matches(c)]
        return _page(mine, limit, after)

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

    def count_waiting_before(self, created_at: datetime) -> int:
        self._maybe_fail("count_waiting_before")
        with self._lock:
            return sum(
                1
                for c in self.by_id.values()
                if c.status is Status.PENDING and c.created_at < created_at
            )

    def entry_totals(self, since: datetime, entry_type: EntryType) -> EntryTotals:
        self._maybe_fail("entry_totals")
        with self._lock:
            amounts = [
                e.amount
                for e in self.entries.values()
                if e.type is entry_type and e.created_at >= since
            ]
        return EntryTotals(len(amounts), sum(amounts))

    def oldest_waiting(self) -> datetime | None:
        self._maybe_fail("oldest_waiting")
        with self._lock:
            waiting = [c.created_at for c in self.by_id.values() if c.status is Status.PENDING]
        return min(waiting, default=None)

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
