"""The Store and StoreQueries ports on Firestore: every money movement is one transaction.

Each transaction reads what it needs (`_read_*`), lets one pure function of
`shared.domain.money` decide, and writes what it decided (`_write`): the rules are the
domain's, shared with the in-memory store of the tests; this module only reads and writes
documents. Ledger entries are written with `create`, which fails when the id exists: a
creation has at most one `debit-<id>` and one `refund-<id>`.

Firestore aborts a transaction when documents it read changed (or, on the emulator, when
another transaction holds their lock). The SDK retries the commit; we also retry an abort
during the reads, with jitter, for a short budget. What is left becomes StoreContention
(the caller answers a retryable 409/503). Other SDK errors become StoreUnavailable. No SDK
exception leaves this module.

Every call has a deadline (STORE_DEADLINE_SECONDS, 5 s by default). The SDK gives its
begin-transaction and commit calls up to 60 s of retries and takes no timeout for them, so
each call runs on a small thread pool and the caller stops waiting at the deadline with
StoreUnavailable (a `store.deadline_exceeded` warning is logged). A call that had not
started is cancelled; one already running may still finish later, which every caller
allows for: each transaction is all or nothing, and what it leaves behind is a state the
worker or the reconciler moves on (a pending creation is re-queued or refunded).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from shared import events
from shared.adapters import firestore_documents as docs
from shared.adapters.lazy import Lazy
from shared.domain import money
from shared.domain.creation import ALL, Creation, CreationFilter, CreationSummary, Refund, Status
from shared.domain.errors import CreationNotFound, StoreContention, StoreUnavailable
from shared.domain.grants import Moved, Movement
from shared.domain.idempotency import IdempotencyKey, IdempotencyRecord
from shared.domain.ledger import NO_LIMITS, Account, EntryType, LedgerEntry, SpendLimits
from shared.domain.money import Debited, Refunded, Writes
from shared.domain.paging import Cursor, Page
from shared.ports import CreationChange, EntryTotals, QueueChange

T = TypeVar("T")
P = ParamSpec("P")

CALL_TIMEOUT = 5.0  # seconds for one read or query, its retries included
CONTENTION_BUDGET = 3.0  # seconds spent retrying aborted transactions before giving up
LOCK_STRIPES = 256  # per-instance locks, by document key
NON_TERMINAL = [str(Status.PENDING), str(Status.PROCESSING)]
DEFAULT_DEADLINE = 5.0  # seconds a caller waits for any one store call
POOL_THREADS = 16


def _bounded(method: Callable[P, T]) -> Callable[P, T]:
    """Run the method on the store's pool and wait at most its deadline."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        store: FirestoreStore = args[0]  # type: ignore[assignment]
        future = store._pool.submit(method, *args, **kwargs)
        try:
            return future.result(timeout=store.deadline_seconds)
        except concurrent.futures.TimeoutError:
            started = not future.cancel()
            events.emit(
                "store.deadline_exceeded",
                logging.WARNING,
                call=method.__name__,
                seconds=store.deadline_seconds,
                started=started,
            )
            raise StoreUnavailable(
                f"the store did not answer within {store.deadline_seconds:g} s"
            ) from None

    return call


class FirestoreStore:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        max_attempts: int = 5,
        deadline_seconds: float = DEFAULT_DEADLINE,
    ) -> None:
        self._max_attempts = max_attempts
        self.deadline_seconds = deadline_seconds
        self._client = Lazy(client_factory)
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=POOL_THREADS, thread_name_prefix="firestore"
        )

    @property
    def client(self) -> Any:
        return self._client.get()

    def _ref(self, collection: str, doc_id: str) -> Any:
        return self.client.collection(collection).document(doc_id)

    # -- transactions -------------------------------------------------------------------

    def _transaction(self, key: str, body: Callable[..., T], *args: Any) -> T:
        """Run `body(transaction, *args)` in a Firestore transaction, mapping errors.

        Transactions on the same hot document (`key`: a user, a creation) from this instance
        take turns on a local lock first: a burst of one user's requests on one instance is
        then served one after the other instead of aborting each other in Firestore.
        """
        from google.cloud import firestore

        lock = self._locks[zlib.crc32(key.encode()) % len(self._locks)]
        if not lock.acquire(timeout=CONTENTION_BUDGET):
            raise StoreUnavailable("the store is slow: transactions are queueing on this instance")
        try:
            return self._attempts(firestore, time.monotonic() + CONTENTION_BUDGET, body, *args)
        finally:
            lock.release()

    def _attempts(self, firestore: Any, deadline: float, body: Callable[..., T], *args: Any) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                with _sdk_errors():
                    transaction = self.client.transaction(max_attempts=self._max_attempts)
                    result: T = firestore.transactional(body)(transaction, *args)
                    return result
            except StoreContention:
                pause = min(0.5, 0.02 * 2**attempt) * random.uniform(0.5, 1.5)
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)

    def _get(self, ref: Any, transaction: Any = None) -> dict[str, Any] | None:
        snapshot = ref.get(transaction=transaction, retry=_read_retry(), timeout=CALL_TIMEOUT)
        return snapshot.to_dict() if snapshot.exists else None

    # -- reading and writing what a money transaction decides (shared.domain.money) ---

    def _read_account(self, uid: str, transaction: Any = None) -> Account | None:
        doc = self._get(self._ref(docs.USERS, uid), transaction)
        return docs.account_from_doc(uid, doc) if doc is not None else None

    def _read_creation(self, creation_id: str, transaction: Any = None) -> Creation | None:
        doc = self._get(self._ref(docs.CREATIONS, creation_id), transaction)
        return docs.creation_from_doc(creation_id, doc) if doc is not None else None

    def _read_entry(self, entry_id: str, transaction: Any = None) -> LedgerEntry | None:
        doc = self._get(self._ref(docs.TRANSACTIONS, entry_id), transaction)
        return docs.entry_from_doc(entry_id, doc) if doc is not None else None

    def _read_key(
        self, key: IdempotencyKey, transaction: Any = None
    ) -> tuple[IdempotencyRecord | None, Creation | None]:
        """The key's record and the creation it names, as stored."""
        doc = self._get(self._ref(docs.IDEMPOTENCY_KEYS, key.record_id), transaction)
        record = docs.idempotency_from_doc(doc) if doc is not None else None
        if record is None:
            return None, None
        return record, self._read_creation(record.creation_id, transaction)

    def _write(self, transaction: Any, writes: Writes, read: Creation | None = None) -> None:
        """Write what a domain function decided; `read` is the creation as read (a changed
        one is written as its changed fields)."""
        if writes.account is not None:
            user = self._ref(docs.USERS, writes.account.uid)
            doc = docs.account_to_doc(writes.account, writes.at, created=writes.opens_account)
            if writes.opens_account:
                transaction.create(user, doc)
            else:
                transaction.set(user, doc, merge=True)
        if writes.creation is not None:
            ref = self._ref(docs.CREATIONS, writes.creation.id)
            if writes.creates_creation or read is None:
                transaction.create(ref, docs.creation_to_doc(writes.creation))
            else:
                transaction.update(ref, docs.creation_changes(read, writes.creation))
        for entry in writes.entries:  # create: a second one of the same id fails
            transaction.create(self._ref(docs.TRANSACTIONS, entry.id), docs.entry_to_doc(entry))
        if writes.idempotency is not None and writes.key_id is not None:
            key_ref = self._ref(docs.IDEMPOTENCY_KEYS, writes.key_id)
            transaction.set(key_ref, docs.idempotency_to_doc(writes.idempotency))

    # -- transactions: read, decide, write ---------------------------------------------

    @_bounded
    def ensure_account(self, uid: str, starting_grant: int, now: datetime) -> Account:
        existing = self._account(uid)  # the common case needs no transaction
        if existing is not None:
            return existing

        def body(transaction: Any) -> Account:
            found = self._read_account(uid, transaction)
            account, writes = money.open_account(uid, found, starting_grant, now)
            self._write(transaction, writes)
            return account

        return self._transaction(uid, body)

    @_bounded
    def debit_and_create(
        self,
        c: Creation,
        now: datetime,
        key: IdempotencyKey | None = None,
        limits: SpendLimits = NO_LIMITS,
    ) -> Debited:
        def body(transaction: Any) -> Debited:
            account = self._read_account(c.user_id, transaction)
            record, earlier = self._read_key(key, transaction) if key else (None, None)
            debited, writes = money.debit(c, account, now, key, record, earlier, limits)
            self._write(transaction, writes)
            return debited

        return self._transaction(c.user_id, body)

    @_bounded
    def move_tokens(self, m: Movement, starting_grant: int, now: datetime) -> Moved:
        def body(transaction: Any) -> Moved:
            existing = self._read_entry(m.entry_id, transaction)
            account = self._read_account(m.uid, transaction)
            moved, writes = money.move(m, existing, account, starting_grant, now)
            self._write(transaction, writes)
            return moved

        return self._transaction(m.uid, body)

    @_bounded
    def refund(self, creation_id: str, now: datetime, refund: Refund) -> Refunded:
        def body(transaction: Any) -> Refunded:
            creation = self._read_creation(creation_id, transaction)
            if creation is None:
                raise CreationNotFound(creation_id)
            account = self._read_account(creation.user_id, transaction)
            refunded, writes = money.refund(creation, account, now, refund)
            self._write(transaction, writes, creation)
            return refunded

        return self._transaction(creation_id, body)

    @_bounded
    def update_creation(self, creation_id: str, change: CreationChange) -> tuple[Creation, bool]:
        def body(transaction: Any) -> tuple[Creation, bool]:
            creation = self._read_creation(creation_id, transaction)
            if creation is None:
                raise CreationNotFound(creation_id)
            changed = change(creation)
            account = None
            if money.ends_in_flight(creation, changed):  # only then is the user read
                account = self._read_account(creation.user_id, transaction)
            stored, applied, writes = money.change(creation, changed, account)
            self._write(transaction, writes, creation)
            return stored, applied

        return self._transaction(creation_id, body)

    @_bounded
    def recount_in_flight(self, uid: str) -> tuple[int, int]:
        """Set the user's in-flight counter to their videos not ended yet; (before, after).

        A plain read first: a counter that agrees (the common case, every sweep) costs no
        transaction, so the sweep takes no lock on a user's document while they submit.
        Only a disagreement is settled in a transaction, which reads both again."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        unfinished = (
            self.client.collection(docs.CREATIONS)
            .where(filter=FieldFilter("userId", "==", uid))
            .where(filter=FieldFilter("kind", "==", "video"))
            .where(filter=FieldFilter("status", "in", NON_TERMINAL))
        )

        def read(transaction: Any = None) -> tuple[Account | None, int]:
            account = self._read_account(uid, transaction)
            if transaction is None:
                found = unfinished.get(retry=_read_retry(), timeout=CALL_TIMEOUT)
            else:
                found = transaction.get(unfinished, retry=_read_retry(), timeout=CALL_TIMEOUT)
            return account, len(list(found))

        with _sdk_errors():
            counts, writes = money.recount(*read())
        if writes is money.NOTHING:
            return counts

        def body(transaction: Any) -> tuple[int, int]:
            counts, writes = money.recount(*read(transaction))
            self._write(transaction, writes)
            return counts

        return self._transaction(uid, body)

    @_bounded
    def record_queue_change(self, change: QueueChange) -> None:
        with _sdk_errors():
            self.client.collection(docs.QUEUE_CHANGES).add(
                docs.queue_change_to_doc(change), retry=_read_retry(), timeout=CALL_TIMEOUT
            )

    # -- queries: StoreQueries ----------------------------------------------------------

    @_bounded
    def get_account(self, uid: str) -> Account | None:
        return self._account(uid)

    def _account(self, uid: str) -> Account | None:
        with _sdk_errors():
            return self._read_account(uid)

    @_bounded
    def find_replay(self, idempotency: IdempotencyKey, now: datetime) -> Debited | None:
        with _sdk_errors():
            record, earlier = self._read_key(idempotency)
            account = self._read_account(idempotency.user_id) if earlier else None
        return money.replay(idempotency, record, earlier, account, now)

    @_bounded
    def get_creation(self, creation_id: str) -> Creation | None:
        with _sdk_errors():
            return self._read_creation(creation_id)

    @_bounded
    def ledger(self, uid: str, limit: int = 20, after: Cursor | None = None) -> Page[LedgerEntry]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.client.collection(docs.TRANSACTIONS).where(
            filter=FieldFilter("userId", "==", uid)
        )
        return self._page(query, limit, after, docs.entry_from_doc)

    @_bounded
    def creations(
        self, uid: str, only: CreationFilter = ALL, limit: int = 20, after: Cursor | None = None
    ) -> Page[Creation]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.client.collection(docs.CREATIONS).where(
            filter=FieldFilter("userId", "==", uid)
        )
        if only.kind is not None:
            query = query.where(filter=FieldFilter("kind", "==", only.kind))
        if only.status is not None:
            query = query.where(filter=FieldFilter("status", "==", only.status))
        return self._page(query, limit, after, docs.creation_from_doc)

    def _page(
        self,
        query: Any,
        limit: int,
        after: Cursor | None,
        parse: Callable[[str, dict[str, Any]], T],
    ) -> Page[T]:
        """Newest first by (createdAt, id); one item more than asked tells whether another
        page follows."""
        from google.cloud.firestore import Query

        query = query.order_by("createdAt", direction=Query.DESCENDING).order_by(
            "__name__", direction=Query.DESCENDING
        )
        if after is not None:
            query = query.start_after({"createdAt": after.created_at, "__name__": after.id})
        with _sdk_errors():
            snapshots = list(
                query.limit(limit + 1).stream(retry=_read_retry(), timeout=CALL_TIMEOUT)
            )
        items = [(s.id, s.to_dict()) for s in snapshots[:limit]]
        more = len(snapshots) > limit
        last = items[-1] if items and more else None
        cursor = Cursor(last[1]["createdAt"], last[0]) if last else None
        return Page([parse(item_id, doc) for item_id, doc in items], cursor)

    @_bounded
    def users_in_flight(self, limit: int = 100) -> list[str]:
        """Users whose in-flight counter is above zero (for the reconciler's repair)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.client.collection(docs.USERS)
            .where(filter=FieldFilter("inFlight", ">", 0))
            .limit(limit)
        )
        with _sdk_errors():
            return [s.id for s in query.stream(retry=_read_retry(), timeout=CALL_TIMEOUT)]

    @_bounded
    def recent_creations(
        self, since: datetime, limit: int, statuses: tuple[Status, ...] | None = None
    ) -> list[CreationSummary]:
        from google.cloud.firestore import Query

        query = (
            self._since(since, statuses)
            .order_by("createdAt", direction=Query.DESCENDING)
            .select(docs.SUMMARY_FIELDS)
            .limit(limit)
        )
        return self._summaries(query)

    @_bounded
    def count_creations(self, since: datetime, status: Status | None = None) -> int:
        query = self._since(since, (status,) if status else None)
        with _sdk_errors():
            [[result]] = query.count().get(retry=_read_retry(), timeout=CALL_TIMEOUT)
        return int(result.value)

    @_bounded
    def count_waiting_before(self, created_at: datetime) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        # An aggregation over the (status, createdAt) index: one read per 1000 entries
        # counted, no document read (firestore.indexes.json).
        query = (
            self.client.collection(docs.CREATIONS)
            .where(filter=FieldFilter("status", "==", str(Status.PENDING)))
            .where(filter=FieldFilter("createdAt", "<", created_at))
        )
        with _sdk_errors():
            [[result]] = query.count().get(retry=_read_retry(), timeout=CALL_TIMEOUT)
        return int(result.value)

    @_bounded
    def entry_totals(self, since: datetime, entry_type: EntryType) -> EntryTotals:
        from google.cloud.firestore_v1.base_query import FieldFilter

        # One aggregation (count and sum) over the (type, createdAt, amount) index: one read
        # per 1000 entries counted, no entry read (firestore.indexes.json).
        query = (
            self.client.collection(docs.TRANSACTIONS)
            .where(filter=FieldFilter("type", "==", str(entry_type)))
            .where(filter=FieldFilter("createdAt", ">=", since))
        )
        with _sdk_errors():
            [results] = (
                query.count(alias="count")
                .sum("amount", alias="tokens")
                .get(retry=_read_retry(), timeout=CALL_TIMEOUT)
            )
        values = {r.alias: r.value for r in results}
        return EntryTotals(int(values.get("count") or 0), int(values.get("tokens") or 0))

    @_bounded
    def oldest_waiting(self) -> datetime | None:
        from google.cloud.firestore import Query
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.client.collection(docs.CREATIONS)
            .where(filter=FieldFilter("status", "==", str(Status.PENDING)))
            .order_by("createdAt", direction=Query.ASCENDING)
            .select(["createdAt"])
            .limit(1)
        )
        with _sdk_errors():
            found = list(query.stream(retry=_read_retry(), timeout=CALL_TIMEOUT))
        return found[0].to_dict()["createdAt"] if found else None

    def _since(self, since: datetime, statuses: tuple[Status, ...] | None) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.client.collection(docs.CREATIONS).where(
            filter=FieldFilter("createdAt", ">=", since)
        )
        if statuses:
            query = query.where(filter=FieldFilter("status", "in", [str(s) for s in statuses]))
        return query

    @_bounded
    def latest_failures(self, limit: int) -> list[CreationSummary]:
        from google.cloud.firestore import Query
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.client.collection(docs.CREATIONS)
            .where(filter=FieldFilter("status", "==", str(Status.FAILED)))
            .order_by("updatedAt", direction=Query.DESCENDING)
            .select(docs.SUMMARY_FIELDS)
            .limit(limit)
        )
        return self._summaries(query)

    def _summaries(self, query: Any) -> list[CreationSummary]:
        with _sdk_errors():
            snapshots = query.stream(retry=_read_retry(), timeout=CALL_TIMEOUT)
            return [docs.summary_from_doc(s.id, s.to_dict()) for s in snapshots]

    @_bounded
    def last_queue_change(self) -> QueueChange | None:
        from google.cloud.firestore import Query

        query = (
            self.client.collection(docs.QUEUE_CHANGES)
            .order_by("at", direction=Query.DESCENDING)
            .limit(1)
        )
        with _sdk_errors():
            found = list(query.stream(retry=_read_retry(), timeout=CALL_TIMEOUT))
        return docs.queue_change_from_doc(found[0].to_dict()) if found else None

    @_bounded
    def stale_creations(self, updated_before: datetime, limit: int = 100) -> list[Creation]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.client.collection(docs.CREATIONS)
            .where(filter=FieldFilter("status", "in", NON_TERMINAL))
            .where(filter=FieldFilter("updatedAt", "<", updated_before))
            .order_by("updatedAt")
            .limit(limit)
        )
        with _sdk_errors():
            return [
                docs.creation_from_doc(s.id, s.to_dict())
                for s in query.stream(retry=_read_retry(), timeout=CALL_TIMEOUT)
            ]

    @_bounded
    def ping(self) -> None:
        with _sdk_errors():
            self._ref(docs.USERS, "_ping").get(retry=_read_retry(2.0), timeout=2.0)


@contextlib.contextmanager
def _sdk_errors() -> Iterator[None]:
    """Turn SDK failures into the port's errors; domain errors pass through untouched."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.Aborted as exc:
        raise StoreContention("the store was too busy; retry shortly") from exc
    except ValueError as exc:
        # The SDK's "failed to commit in N attempts" is a ValueError caused by an Aborted.
        if not isinstance(exc.__cause__, exceptions.Aborted):
            raise
        raise StoreContention("the store was too busy; retry shortly") from exc
    except exceptions.Conflict as exc:  # AlreadyExists included
        raise StoreContention("a concurrent write won; retry") from exc
    except exceptions.GoogleAPIError as exc:
        raise StoreUnavailable(f"store error: {type(exc).__name__}") from exc


@functools.cache
def _read_retry(deadline: float = CALL_TIMEOUT) -> Any:
    """The SDK's default read retry lasts up to 300 s; a request cannot wait that long."""
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.ServiceUnavailable,
            exceptions.DeadlineExceeded,
            exceptions.InternalServerError,
        ),
        initial=0.1,
        maximum=1.0,
        multiplier=2.0,
        timeout=deadline,
    )
