"""The design's money invariants, checked against any store through its read side."""

from __future__ import annotations

from collections import Counter

from shared.domain.creation import Status
from shared.domain.ledger import EntryType
from shared.ports import StoreQueries


def assert_conserved(store: StoreQueries, uid: str) -> None:
    """Balance == grants + credits + adjustments - debits + refunds; at most one debit and
    one refund per creation; a refund only after a debit; failed/cancelled creations
    refunded, drafts never."""
    entries = store.ledger(uid, 10_000)
    account = store.get_account(uid)
    balance = account.tokens if account else 0
    assert balance == sum(e.signed_amount for e in entries), (balance, entries)
    assert balance >= 0

    per_creation = Counter((e.creation_id, e.type) for e in entries if e.creation_id)
    assert all(n == 1 for n in per_creation.values()), per_creation
    for (creation_id, kind), _ in per_creation.items():
        if kind is EntryType.REFUND:
            assert (creation_id, EntryType.DEBIT) in per_creation, creation_id
        creation = store.get_creation(creation_id)
        assert creation is not None and creation.user_id == uid
        refunded = (creation_id, EntryType.REFUND) in per_creation
        assert refunded == creation.refunded, creation
        if creation.status is Status.DRAFT:
            assert not refunded, creation
        if creation.status in (Status.FAILED, Status.CANCELLED):
            assert refunded, creation
    spent = sum(e.signed_amount for e in entries if e.type in (EntryType.DEBIT, EntryType.REFUND))
    if account is not None:
        assert account.total_tokens_spent == -spent, (account, spent)
