"""The audit's checks (shared.audit.checks): each violation is found, a healthy store has none."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit.checks import KINDS, Auditor, audit
from shared.domain.creation import Creation, Status
from shared.domain.ledger import Account, EntryType, LedgerEntry, debit_entry, grant_entry
from shared.domain.ledger import refund_entry as make_refund
from tests.builders import video

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def creation(cid: str, status: Status = Status.PENDING, **changes) -> Creation:
    c = dataclasses.replace(video(cid=cid, at=NOW), status=status)
    return dataclasses.replace(c, **changes)


def healthy() -> tuple[list[Account], list[Creation], list[LedgerEntry]]:
    """One user: granted 100; a draft, a failed (refunded) video, a pending one."""
    draft = creation("d", Status.DRAFT, media_key="videos/u/d.mp4")
    failed = creation("f", Status.FAILED, refunded=True, error_code="x")
    pending = creation("p")
    entries = [grant_entry("u", 100, "starting_grant", NOW)]
    entries += [debit_entry(c, NOW) for c in (draft, failed, pending)]
    entries.append(make_refund(failed, NOW))
    return [Account("u", 80, 20)], [draft, failed, pending], entries


def kinds(accounts, creations, entries, now=NOW) -> set[str]:
    return set(audit(accounts, creations, entries, now).counts())


def test_a_healthy_store_has_no_violation_and_its_figures_add_up():
    report = audit(*healthy(), NOW)
    assert report.ok, report.violations
    assert report.tokens == {"granted": 100, "debited": 30, "refunded": 10, "balance": 80}
    assert report.by_status == {"video/draft": 1, "video/failed": 1, "video/pending": 1}
    assert report.users == 1 and report.creations == 3 and report.entries == 5
    assert any("violations: 0" in line for line in report.lines())


def test_balance_and_spent_drift():
    accounts, creations, entries = healthy()
    assert kinds([Account("u", 81, 20)], creations, entries) == {"balance_mismatch"}
    assert kinds([Account("u", 80, 21)], creations, entries) == {"spent_mismatch"}
    assert "negative_balance" in kinds([Account("u", -1, 20)], creations, entries)


def test_entries_of_a_user_without_an_account_count_against_a_zero_balance():
    _, creations, entries = healthy()
    assert kinds([], creations, entries) == {"balance_mismatch"}


def test_two_debits_or_two_refunds_for_one_creation():
    accounts, creations, entries = healthy()
    failed = creations[1]
    second_debit = dataclasses.replace(debit_entry(failed, NOW), id="debit-again")
    found = kinds([Account("u", 70, 30)], creations, [*entries, second_debit])
    assert found == {"duplicate_debit", "entry_id_mismatch"}
    second_refund = dataclasses.replace(make_refund(failed, NOW), id="refund-again")
    found = kinds([Account("u", 90, 10)], creations, [*entries, second_refund])
    assert found == {"duplicate_refund", "entry_id_mismatch"}


def test_refund_without_debit_and_entries_without_their_creation():
    accounts, creations, entries = healthy()
    ghost = creation("ghost", Status.FAILED, refunded=True)
    found = kinds([Account("u", 90, 10)], creations, [*entries, make_refund(ghost, NOW)])
    assert found == {"refund_without_debit", "entry_without_creation"}


def test_entry_amount_and_owner_must_be_the_creation_s():
    accounts, creations, entries = healthy()
    wrong = [dataclasses.replace(e, amount=9) if e.id == "debit-p" else e for e in entries]
    assert kinds([Account("u", 81, 19)], creations, wrong) == {"entry_amount_mismatch"}
    other = [dataclasses.replace(e, user_id="v") if e.id == "debit-p" else e for e in entries]
    found = kinds([Account("u", 90, 10), Account("v", -10, 10)], creations, other)
    assert found == {"entry_user_mismatch", "negative_balance"}


def test_missing_debit():
    accounts, creations, entries = healthy()
    found = kinds([Account("u", 90, 10)], creations, [e for e in entries if e.id != "debit-p"])
    assert found == {"missing_debit"}


def test_failed_or_cancelled_without_refund_and_refunded_drafts():
    accounts, creations, entries = healthy()
    cancelled = creation("c", Status.CANCELLED, refunded=True)
    found = kinds(
        [Account("u", 70, 30)], [*creations, cancelled], [*entries, debit_entry(cancelled, NOW)]
    )  # noqa: E501
    assert found == {"unrefunded_failure"}
    draft = creations[0]
    found = kinds([Account("u", 90, 10)], creations, [*entries, make_refund(draft, NOW)])
    assert found == {"refunded_draft"}


def test_refund_flag_must_match_the_ledger():
    accounts, creations, entries = healthy()
    flagged = [dataclasses.replace(c, refunded=True) if c.id == "p" else c for c in creations]
    assert kinds(accounts, flagged, entries) == {"refund_flag_mismatch"}


def test_draft_without_media():
    accounts, creations, entries = healthy()
    bare = [dataclasses.replace(c, media_key=None) if c.id == "d" else c for c in creations]
    assert kinds(accounts, bare, entries) == {"draft_without_media"}


@pytest.mark.parametrize(("minutes_after_deadline", "stuck"), [(0, False), (14, False), (16, True)])
def test_non_terminal_past_deadline_plus_grace_is_stuck(minutes_after_deadline, stuck):
    deadline = NOW + timedelta(minutes=30)
    later = deadline + timedelta(minutes=minutes_after_deadline)
    assert ("stuck" in kinds(*healthy(), now=later)) is stuck


def test_in_flight_counter_when_accounts_carry_one():
    accounts, creations, entries = healthy()
    auditor = Auditor()
    auditor.add_account(accounts[0], in_flight=2)
    for c in creations:
        auditor.add_creation(c)
    for e in entries:
        auditor.add_entry(e)
    report = auditor.finish(NOW)
    assert set(report.counts()) == {"in_flight_mismatch"}


def test_every_kind_is_listed_and_lines_cap_each_kind():
    accounts, creations, entries = healthy()
    many = [creation(f"s{i}", deadline_at=NOW - timedelta(hours=1)) for i in range(30)]
    debits = [debit_entry(c, NOW) for c in many]
    report = audit([Account("u", 80 - 300, 320)], [*creations, *many], [*entries, *debits], NOW)
    assert set(report.counts()) <= set(KINDS)
    assert report.counts()["stuck"] == 30
    lines = report.lines(limit=5)
    assert sum(line.startswith("  stuck:") for line in lines) == 6  # 5 and "... 25 more"
    assert any("25 more" in line for line in lines)
    assert EntryType.DEBIT in {e.type for e in debits}
