"""The audit over grants, credits and corrections (issue 20): the balance is every entry's
sum, and each entry type keeps its own rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from shared.audit.checks import audit
from shared.domain import money
from shared.domain.grants import operator_grant, payment_credit
from shared.domain.ledger import Account, EntryType, LedgerEntry, grant_entry

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _apply(moves) -> tuple[Account, list[LedgerEntry]]:
    account: Account | None = None
    entries: list[LedgerEntry] = []
    for m in moves:
        moved, writes = money.move(m, None, account, 100, NOW)
        account = writes.account
        entries += writes.entries
    assert account is not None
    return account, entries


def test_grants_credits_and_corrections_add_up():
    account, entries = _apply(
        [
            operator_grant("admin", "k1", "u", 50, "ticket"),
            payment_credit("pay@x", "pi_1", "u", 500, "pack"),
            operator_grant("admin", "k2", "u", -30, "double grant"),
        ]
    )
    report = audit([account], [], entries, NOW)
    assert report.ok, report.lines()
    assert account.tokens == 620
    assert report.by_entry_type == {"grant": 2, "credit": 1, "adjustment": 1}
    assert report.tokens["credited"] == 500 and report.tokens["adjusted"] == -30


def test_a_balance_edited_by_hand_is_a_mismatch():
    account, entries = _apply([payment_credit("pay@x", "pi_1", "u", 500, "pack")])
    edited = dataclasses.replace(account, tokens=account.tokens + 7)
    assert audit([edited], [], entries, NOW).counts() == {"balance_mismatch": 1}


def test_each_movement_keeps_its_rules():
    account, entries = _apply([payment_credit("pay@x", "pi_1", "u", 500, "pack")])
    credit = next(e for e in entries if e.type is EntryType.CREDIT)
    broken = [
        dataclasses.replace(credit, id="credit-made-up"),
        dataclasses.replace(credit, id=credit.id, by=None, external_id=credit.external_id),
    ]
    bad_grant = grant_entry("v", 5, "", NOW)  # not a starting grant: no by, no reason
    positive_adjustment = LedgerEntry(
        "operator-x", "w", EntryType.ADJUSTMENT, 5, NOW, reason="r", by="admin"
    )
    for entry in (*broken, bad_grant, positive_adjustment):
        report = audit([], [], [entry], NOW)
        assert "movement_invalid" in report.counts(), (entry, report.lines())
