"""Store.move_tokens, the way tokens come in (grants, corrections, credits): one contract
for the in-memory fake and the Firestore adapter on the emulator, like the debit's."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from shared.domain.errors import BalanceTooLow, StoreContention, StoreUnavailable
from shared.domain.grants import operator_grant, payment_credit
from shared.domain.idempotency import IdempotencyConflict
from shared.domain.ledger import EntryType
from shared.ports import EntryTotals
from tests.contract.invariants import assert_conserved
from tests.waiting import wait_for

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def uid() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def key() -> str:
    """An Idempotency-Key of its own (the emulator's ledger is shared by every test)."""
    return uuid.uuid4().hex


def test_a_grant_opens_the_account_with_its_starting_grant_first(store):
    user = uid()
    k1 = key()
    moved = store.move_tokens(operator_grant("admin", k1, user, 50, "welcome"), 100, NOW)
    assert moved.balance == 150 and not moved.replayed
    assert moved.entry.type is EntryType.GRANT and moved.entry.by == "admin"
    assert store.get_account(user).tokens == 150
    types = sorted((e.type, e.amount) for e in store.ledger(user, 10))
    assert types == [(EntryType.GRANT, 50), (EntryType.GRANT, 100)]
    assert_conserved(store, user)


def test_a_replay_answers_the_first_result_and_writes_nothing(store):
    user = uid()
    k1, k2 = key(), key()
    first = store.move_tokens(operator_grant("admin", k1, user, 5, "r"), 0, NOW)
    store.move_tokens(operator_grant("admin", k2, user, 7, "r"), 0, NOW)
    again = store.move_tokens(operator_grant("admin", k1, user, 5, "r"), 0, NOW)
    assert again.replayed and again.entry == first.entry and again.balance == 5
    with pytest.raises(IdempotencyConflict):
        store.move_tokens(operator_grant("admin", k1, user, 6, "r"), 0, NOW)
    assert store.get_account(user).tokens == 12
    assert len(list(store.ledger(user, 10))) == 2


def test_a_correction_never_takes_a_balance_below_zero(store):
    user = uid()
    k1, k2 = key(), key()
    fixed = store.move_tokens(operator_grant("admin", k1, user, -40, "double"), 100, NOW)
    assert fixed.entry.type is EntryType.ADJUSTMENT and fixed.balance == 60
    with pytest.raises(BalanceTooLow):
        store.move_tokens(operator_grant("admin", k2, user, -61, "too much"), 100, NOW)
    assert store.get_account(user).tokens == 60
    assert len(list(store.ledger(user, 10))) == 2
    assert_conserved(store, user)


def test_a_credit_is_applied_once_per_external_id_for_ever(store):
    user = uid()
    external = f"pi_{uuid.uuid4().hex}"
    first = store.move_tokens(payment_credit("pay@x", external, user, 500, "pack"), 0, NOW)
    assert first.entry.external_id == external and first.balance == 500
    again = store.move_tokens(payment_credit("pay@x", external, user, 500, "pack"), 0, NOW)
    assert again.replayed and again.entry == first.entry
    with pytest.raises(IdempotencyConflict):
        store.move_tokens(payment_credit("pay@x", external, uid(), 500, "pack"), 0, NOW)
    assert store.get_account(user).tokens == 500
    assert_conserved(store, user)


def _concurrently(store, movements):
    """Every movement at once; each retried while the store says it is busy, as the api's
    caller would (409 busy / 503), until a deadline."""

    def one(m):
        outcome: list[object] = []

        def attempt() -> bool:
            try:
                outcome.append(store.move_tokens(m, 0, NOW))
                return True
            except (StoreContention, StoreUnavailable):
                return False

        wait_for(attempt, timeout=60, interval=0.05)
        return outcome[0]

    with ThreadPoolExecutor(len(movements)) as pool:
        return list(pool.map(one, movements))


def test_forty_simultaneous_credits_of_one_payment_are_one_entry(store):
    user = uid()
    credit = payment_credit("pay@x", f"pi_{uuid.uuid4().hex}", user, 25, "pack")
    moved = _concurrently(store, [credit] * 40)
    assert sum(not m.replayed for m in moved) == 1
    assert {m.entry.id for m in moved} == {credit.entry_id}
    assert [e.type for e in store.ledger(user, 100)] == [EntryType.CREDIT]
    assert store.get_account(user).tokens == 25
    assert_conserved(store, user)


def test_forty_simultaneous_credits_of_distinct_payments_are_forty_entries(store):
    user = uid()
    credits = [
        payment_credit("pay@x", f"pi_{i}_{uuid.uuid4().hex}", user, 25, "pack") for i in range(40)
    ]
    moved = _concurrently(store, credits)
    assert not any(m.replayed for m in moved)
    assert len(list(store.ledger(user, 100))) == 40
    assert store.get_account(user).tokens == 40 * 25
    assert_conserved(store, user)


def test_the_day_s_movements_are_counted_and_summed_by_type(store):
    from datetime import timedelta

    # A time of its own, far from every other test's entries (the emulator's ledger is shared).
    day = NOW + timedelta(days=500 + uuid.uuid4().int % 10_000)
    since = day - timedelta(hours=1)
    before = {t: store.entry_totals(since, t) for t in EntryType}
    assert all(totals.count == 0 and totals.tokens == 0 for totals in before.values())
    a, b = uid(), uid()
    store.move_tokens(operator_grant("admin", key(), a, 25, "support"), 0, day)
    store.move_tokens(operator_grant("admin", key(), b, 40, "support"), 0, day)
    store.move_tokens(operator_grant("admin", key(), a, -5, "correction"), 0, day)
    store.move_tokens(payment_credit("pay@local", key(), b, 500, "pack"), 0, day)
    # Before `since`: not counted.
    store.move_tokens(operator_grant("admin", key(), a, 7, "old"), 0, since - timedelta(seconds=1))
    # A replay writes nothing, so it counts nothing.
    k = key()
    store.move_tokens(operator_grant("admin", k, b, 3, "twice"), 0, day)
    store.move_tokens(operator_grant("admin", k, b, 3, "twice"), 0, day)

    assert store.entry_totals(since, EntryType.GRANT) == EntryTotals(3, 68)
    assert store.entry_totals(since, EntryType.ADJUSTMENT) == EntryTotals(1, -5)
    assert store.entry_totals(since, EntryType.CREDIT) == EntryTotals(1, 500)
    assert store.entry_totals(day + timedelta(seconds=1), EntryType.GRANT) == EntryTotals(0, 0)
