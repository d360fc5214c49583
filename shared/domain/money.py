"""The money rules: each store transaction decided by one pure function.

A store (Firestore, or the in-memory fake of the tests) runs every money transaction the
same way: it reads what the transaction needs, hands it to one of these functions, and
writes what the function returns (`Writes`), all in one transaction. So the rules live
here once; the stores differ only in how they read and write.

    open_account   ensure_account: the account, or a new one with its starting grant
    replay         find_replay (and debit): what an idempotency key replays, if anything
    debit          debit_and_create: replay, or refuse (limit, balance), or pay and create
    refund         refund: end a creation failed/cancelled and give its tokens back, once
    change         update_creation: a pure transition, and a video that ends counted out
    recount        recount_in_flight: set a drifted in-flight counter to the truth
    move           move_tokens: an operator's grant or correction, a payment's credit, once

A function refuses by raising a domain error (TooManyInFlight, InsufficientTokens,
IdempotencyConflict, ValueError for a change that no transition makes) before anything is
written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from shared.domain.creation import Creation, Refund, end_with_refund
from shared.domain.errors import BalanceTooLow
from shared.domain.grants import Moved, Movement, movement_entry
from shared.domain.idempotency import (
    IdempotencyConflict,
    IdempotencyKey,
    IdempotencyRecord,
    record_for,
    replays,
)
from shared.domain.ledger import (
    NO_LIMITS,
    Account,
    LedgerEntry,
    SpendLimits,
    after_debit,
    after_end,
    after_refund,
    counts_in_flight,
    debit_entry,
    grant_entry,
    refund_entry,
)


@dataclass(frozen=True)
class Debited:
    creation: Creation
    balance: int
    replayed: bool = False  # the same idempotency key was seen: nothing charged twice


@dataclass(frozen=True)
class Refunded:
    creation: Creation  # as it is after the call
    refunded_now: bool  # False: it was terminal already (refunded before, or a draft)
    balance: int | None = None


@dataclass(frozen=True)
class Writes:
    """What one transaction writes, as decided. Empty: nothing.

    account: the user's account as it is afterwards (created when `opens_account`);
    creation: the creation as it is afterwards (created when `creates_creation`, else
    changed from the one read); entries: ledger entries, each created only if absent (a
    second one of the same id makes the transaction fail); idempotency: the key's record,
    stored under `key_id`.
    `at` is when (the account's updatedAt), None for a change that is not the user's doing.
    """

    at: datetime | None = None
    account: Account | None = None
    opens_account: bool = False
    creation: Creation | None = None
    creates_creation: bool = False
    entries: tuple[LedgerEntry, ...] = ()
    idempotency: IdempotencyRecord | None = None
    key_id: str | None = None


NOTHING = Writes()


def open_account(
    uid: str, existing: Account | None, starting_grant: int, now: datetime
) -> tuple[Account, Writes]:
    """The account as it is, or a new one holding `starting_grant` (with its grant entry)."""
    if existing is not None:
        return existing, NOTHING
    account = Account(uid, starting_grant)
    grants = (grant_entry(uid, starting_grant, "starting_grant", now),) if starting_grant else ()
    return account, Writes(now, account, opens_account=True, entries=grants)


def replay(
    key: IdempotencyKey,
    record: IdempotencyRecord | None,
    earlier: Creation | None,
    account: Account | None,
    now: datetime,
) -> Debited | None:
    """What a request under `key` replays (`record` and the `earlier` creation it names, as
    read): that creation and the balance, charging nothing; or None for a new request.
    Raises IdempotencyConflict when the key was used for another request."""
    if not replays(record, key, earlier, now) or earlier is None:
        return None
    return Debited(earlier, account.tokens if account else 0, replayed=True)


def debit(
    creation: Creation,
    account: Account | None,
    now: datetime,
    key: IdempotencyKey | None = None,
    record: IdempotencyRecord | None = None,
    earlier: Creation | None = None,
    limits: SpendLimits = NO_LIMITS,
) -> tuple[Debited, Writes]:
    """Pay for `creation` and create it `pending`: the debit, its `debit-<id>` entry, one
    more video in flight, the day's spending counted, the key remembered. A key that
    replays (see `replay`) writes nothing. Raises TooManyInFlight, DailyLimitReached
    (`limits`), InsufficientTokens or IdempotencyConflict."""
    if key is not None:
        replayed = replay(key, record, earlier, account, now)
        if replayed is not None:
            return replayed, NOTHING
    paid = after_debit(account or Account(creation.user_id, 0), creation, limits)
    writes = Writes(
        now,
        paid,
        creation=creation,
        creates_creation=True,
        entries=(debit_entry(creation, now),),
        idempotency=record_for(key, creation.id) if key is not None else None,
        key_id=key.record_id if key is not None else None,
    )
    return Debited(creation, paid.tokens), writes


def refund(
    creation: Creation, account: Account | None, now: datetime, why: Refund
) -> tuple[Refunded, Writes]:
    """End a non-terminal creation as `why` says, give its tokens back (`refund-<id>`) and
    count it out of `inFlight`. A terminal creation (refunded before, or a draft), or one
    that `why` does not apply to, is left alone: a refund happens at most once."""
    ended = end_with_refund(creation, now, why)
    if ended is None:
        return Refunded(creation, False, account.tokens if account else None), NOTHING
    repaid = after_refund(account or Account(creation.user_id, 0), creation)
    writes = Writes(now, repaid, creation=ended, entries=(refund_entry(ended, now),))
    return Refunded(ended, True, repaid.tokens), writes


def ends_in_flight(before: Creation, after: Creation | None) -> bool:
    """Whether this change ends a video counted in flight (the store then reads its user)."""
    return (
        after is not None
        and after.is_terminal
        and not before.is_terminal
        and counts_in_flight(before)
    )


def change(
    before: Creation, after: Creation | None, account: Account | None
) -> tuple[Creation, bool, Writes]:
    """A pure transition's result (`after`, None: no change) as the store applies it: the
    creation as stored afterwards, whether it changed, and the writes. A video that ends
    is counted out of its user's `inFlight` (`account`, read when `ends_in_flight`)."""
    if after is None:
        return before, False, NOTHING
    if after.refunded != before.refunded:
        raise ValueError("refunds go through Store.refund, with the ledger")
    if before.is_terminal and after.status != before.status:
        raise ValueError("a terminal creation never changes state")
    counted_out = None
    if account is not None and ends_in_flight(before, after):
        counted_out = after_end(account, before)
    return after, True, Writes(account=counted_out, creation=after)


def recount(account: Account | None, unfinished: int) -> tuple[tuple[int, int], Writes]:
    """The user's in-flight counter set to their `unfinished` videos: ((was, is), writes)."""
    if account is None:
        return (0, 0), NOTHING
    was = account.in_flight
    if was == unfinished:
        return (was, was), NOTHING
    fixed = dataclasses.replace(account, in_flight=unfinished)
    return (was, unfinished), Writes(account=fixed)


def move(
    m: Movement,
    existing: LedgerEntry | None,
    account: Account | None,
    starting_grant: int,
    now: datetime,
) -> tuple[Moved, Writes]:
    """An operator's grant or correction, or a payment's credit (`m`), applied once.

    `existing`: the ledger entry of `m.entry_id` as read. The same request again answers
    the first result and writes nothing; another request under the same id raises
    IdempotencyConflict. An account that does not exist yet is opened with its starting
    grant first (both in this transaction). A correction that would take the balance below
    zero raises BalanceTooLow, writing nothing."""
    if existing is not None:
        if existing.fingerprint != m.fingerprint or existing.user_id != m.uid:
            raise IdempotencyConflict(
                "This key was already used for another request (another uid, amount or reason)."
            )
        return Moved(existing, existing.balance_after or 0, replayed=True), NOTHING
    opened, opening = open_account(m.uid, account, starting_grant, now)
    balance = opened.tokens + m.amount
    if balance < 0:
        raise BalanceTooLow(opened.tokens, m.amount)
    entry = movement_entry(m, balance, now)
    after = dataclasses.replace(opened, tokens=balance)
    writes = Writes(
        now,
        after,
        opens_account=opening.opens_account,
        entries=(*opening.entries, entry),
    )
    return Moved(entry, balance), writes
