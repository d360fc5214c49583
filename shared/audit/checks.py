"""The invariants of the design, checked over what a store holds: pure functions, no I/O.

Feed an `Auditor` every account, creation and ledger entry (in any order, page by page),
then `finish(now)` gives the report: figures and every violation. The Firestore reader, the
in-memory reader of the tests and the fault-injection suites all go through this one code.

Violations (kind: what it means):
    balance_mismatch        the account's tokens != grants + credits + adjustments - debits
                            + refunds of its ledger
    negative_balance        an account below zero
    spent_mismatch          totalTokensSpent != debits - refunds
    missing_debit           a creation with no debit entry (the debit creates it, at once)
    duplicate_debit         two debit entries name the same creation
    duplicate_refund        two refund entries name the same creation
    refund_without_debit    a refund entry for a creation that has no debit entry
    entry_without_creation  a debit or refund entry naming a creation that does not exist
    entry_id_mismatch       a debit/refund entry whose id is not `debit-<id>` / `refund-<id>`
    entry_amount_mismatch   a debit/refund entry whose amount is not the creation's cost
    entry_user_mismatch     an entry whose userId is not the creation's owner
    unrefunded_failure      a creation that ended without its media (failed, expired or
                            cancelled) without a refund entry (or flag)
    refunded_draft          a draft with a refund entry, or with refunded=true
    refund_flag_mismatch    a non-terminal creation with a refund entry or refunded=true
    draft_without_media     a draft without mediaKey
    stuck                   not terminal, and past deadlineAt + the grace
    in_flight_mismatch      the user's inFlight counter != their non-terminal videos (only
                            checked when accounts carry the counter)
    movement_invalid        a grant, credit or adjustment that breaks its rules: an amount
                            of the wrong sign (grants and credits add, adjustments take
                            away), no reason, no `by` (who) except on the starting grant, a
                            credit without externalId or whose id is not
                            `credit-<digest of it>`, a balanceAfter below zero
    unreadable              a document that cannot be read as what its collection holds
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.creation import REFUNDED, TERMINAL, Creation, Kind, Status
from shared.domain.ledger import MOVEMENTS, Account, EntryType, LedgerEntry

DEFAULT_GRACE = timedelta(minutes=15)  # the reconciler's sweep interval, and then some
KINDS = (
    "balance_mismatch",
    "negative_balance",
    "spent_mismatch",
    "missing_debit",
    "duplicate_debit",
    "duplicate_refund",
    "refund_without_debit",
    "entry_without_creation",
    "entry_id_mismatch",
    "entry_amount_mismatch",
    "entry_user_mismatch",
    "unrefunded_failure",
    "refunded_draft",
    "refund_flag_mismatch",
    "draft_without_media",
    "stuck",
    "in_flight_mismatch",
    "movement_invalid",
    "unreadable",
)


@dataclass(frozen=True)
class Violation:
    kind: str
    subject: str  # a user id, creation id or document path
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass
class AuditReport:
    now: datetime
    grace: timedelta
    users: int = 0
    creations: int = 0
    entries: int = 0
    by_status: Counter[str] = field(default_factory=Counter)  # "video/draft" -> n
    by_entry_type: Counter[str] = field(default_factory=Counter)  # grant/debit/refund -> n
    tokens: Counter[str] = field(default_factory=Counter)  # granted/debited/refunded/balance
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> Counter[str]:
        return Counter(v.kind for v in self.violations)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "now": self.now.isoformat(),
            "graceSeconds": self.grace.total_seconds(),
            "users": self.users,
            "creations": self.creations,
            "entries": self.entries,
            "byStatus": dict(sorted(self.by_status.items())),
            "byEntryType": dict(sorted(self.by_entry_type.items())),
            "tokens": dict(self.tokens),
            "violations": dict(sorted(self.counts().items())),
        }

    def lines(self, limit: int = 20) -> list[str]:
        """The report as an operator reads it: figures, then violations by kind (the first
        `limit` of each)."""
        t = self.tokens
        out = [
            f"audit at {self.now.isoformat()} (grace {self.grace.total_seconds():.0f} s)",
            f"users {self.users}, creations {self.creations}, ledger entries {self.entries}",
            "creations by kind/status: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.by_status.items())) or "none"),
            "ledger entries: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.by_entry_type.items())) or "none"),
            f"tokens: granted {t['granted']}, credited {t['credited']}, adjusted"
            f" {t['adjusted']}, debited {t['debited']}, refunded {t['refunded']}, balances"
            f" {t['balance']} (granted + credited + adjusted - debited + refunded ="
            f" {t['granted'] + t['credited'] + t['adjusted'] - t['debited'] + t['refunded']})",
        ]
        counts = self.counts()
        out.append(
            "violations: "
            + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) if counts else "0")
        )
        shown: Counter[str] = Counter()
        for v in self.violations:
            shown[v.kind] += 1
            if shown[v.kind] <= limit:
                out.append(f"  {v}")
            elif shown[v.kind] == limit + 1:
                out.append(f"  {v.kind}: ... {counts[v.kind] - limit} more")
        return out


@dataclass
class _Money:
    granted: int = 0
    debited: int = 0
    refunded: int = 0
    credited: int = 0
    adjusted: int = 0  # negative: corrections take tokens away


def _movement_problem(e: LedgerEntry) -> str | None:
    """Why a grant, credit or adjustment breaks its rules, or None."""
    from shared.domain.grants import credit_entry_id

    starting = e.type is EntryType.GRANT and e.id == f"grant-{e.user_id}-starting_grant"
    if e.type is EntryType.ADJUSTMENT and e.amount >= 0:
        return f"an adjustment of {e.amount} (corrections are negative)"
    if e.type is not EntryType.ADJUSTMENT and e.amount <= 0:
        return f"a {e.type} of {e.amount}"
    if starting:  # its id says why; no one but the account's opening wrote it
        return None
    if not e.reason.strip():
        return "no reason"
    if not e.by:
        return "no by (who)"
    if e.type is EntryType.CREDIT and (not e.external_id or e.id != credit_entry_id(e.external_id)):
        return f"credit id {e.id} does not name externalId {e.external_id!r}"
    if e.balance_after is not None and e.balance_after < 0:
        return f"balanceAfter {e.balance_after}"
    return None


class Auditor:
    """Collects documents (any order, any number of pages), then checks them all at once."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._in_flight: dict[str, int] = {}
        self._creations: dict[str, _CreationFacts] = {}
        self._money: dict[str, _Money] = defaultdict(_Money)
        self._debits: dict[str, list[LedgerEntry]] = defaultdict(list)
        self._refunds: dict[str, list[LedgerEntry]] = defaultdict(list)
        self._entries = 0
        self._entry_types: Counter[str] = Counter()
        self._unreadable: list[Violation] = []

    def add_account(self, account: Account, in_flight: int | None = None) -> None:
        """`in_flight`: the account's inFlight counter, when the store keeps one."""
        self._accounts[account.uid] = account
        if in_flight is not None:
            self._in_flight[account.uid] = in_flight

    def add_creation(self, creation: Creation) -> None:
        # Only the facts the checks need: memory stays small for millions of creations.
        self._creations[creation.id] = _CreationFacts.of(creation)

    def add_entry(self, entry: LedgerEntry) -> None:
        self._entries += 1
        self._entry_types[str(entry.type)] += 1
        money = self._money[entry.user_id]
        if entry.type is EntryType.GRANT:
            money.granted += entry.amount
        elif entry.type is EntryType.CREDIT:
            money.credited += entry.amount
        elif entry.type is EntryType.ADJUSTMENT:
            money.adjusted += entry.amount
        elif entry.type is EntryType.DEBIT:
            money.debited += entry.amount
        else:
            money.refunded += entry.amount
        if entry.type in MOVEMENTS:
            problem = _movement_problem(entry)
            if problem is not None:
                self._unreadable.append(Violation("movement_invalid", entry.id, problem))
        if entry.creation_id is not None and entry.type is EntryType.DEBIT:
            self._debits[entry.creation_id].append(entry)
        elif entry.creation_id is not None and entry.type is EntryType.REFUND:
            self._refunds[entry.creation_id].append(entry)

    def add_unreadable(self, path: str, problem: str) -> None:
        self._unreadable.append(Violation("unreadable", path, problem))

    def finish(self, now: datetime, grace: timedelta = DEFAULT_GRACE) -> AuditReport:
        report = AuditReport(now=now, grace=grace)
        report.users = len(set(self._accounts) | set(self._money))
        report.creations = len(self._creations)
        report.entries = self._entries
        report.by_entry_type = Counter(self._entry_types)
        found = report.violations
        found.extend(self._unreadable)
        found.extend(_check_accounts(self._accounts, self._money, report))
        found.extend(self._check_entries())
        in_flight: Counter[str] = Counter()
        for c in self._creations.values():
            report.by_status[f"{c.kind}/{c.status}"] += 1
            debits, refunds = self._debits.get(c.id, []), self._refunds.get(c.id, [])
            found.extend(_check_creation(c, debits, refunds, now, grace))
            if c.kind is Kind.VIDEO and c.status not in TERMINAL:
                in_flight[c.user_id] += 1
        for uid, counter in sorted(self._in_flight.items()):
            if counter != in_flight[uid]:
                found.append(
                    Violation(
                        "in_flight_mismatch",
                        uid,
                        f"inFlight {counter}, non-terminal videos {in_flight[uid]}",
                    )
                )
        return report

    def _check_entries(self) -> list[Violation]:
        found: list[Violation] = []
        for kind, by_creation, prefix in (
            ("debit", self._debits, "debit-"),
            ("refund", self._refunds, "refund-"),
        ):
            for creation_id, entries in sorted(by_creation.items()):
                if len(entries) > 1:
                    ids = ", ".join(sorted(e.id for e in entries))
                    found.append(Violation(f"duplicate_{kind}", creation_id, ids))
                creation = self._creations.get(creation_id)
                for e in entries:
                    if e.id != prefix + creation_id:
                        found.append(
                            Violation("entry_id_mismatch", e.id, f"names creation {creation_id}")
                        )
                    if creation is None:
                        found.append(
                            Violation("entry_without_creation", e.id, f"creation {creation_id}")
                        )
                        continue
                    if e.amount != creation.cost:
                        found.append(
                            Violation(
                                "entry_amount_mismatch",
                                e.id,
                                f"amount {e.amount}, creation cost {creation.cost}",
                            )
                        )
                    if e.user_id != creation.user_id:
                        found.append(
                            Violation(
                                "entry_user_mismatch",
                                e.id,
                                f"entry of {e.user_id}, creation of {creation.user_id}",
                            )
                        )
        for creation_id in sorted(set(self._refunds) - set(self._debits)):
            found.append(Violation("refund_without_debit", creation_id, "no debit entry"))
        return found


@dataclass(frozen=True)
class _CreationFacts:
    id: str
    user_id: str
    kind: Kind
    status: Status
    cost: int
    deadline_at: datetime
    refunded: bool
    has_media: bool

    @classmethod
    def of(cls, c: Creation) -> _CreationFacts:
        return cls(
            c.id, c.user_id, c.kind, c.status, c.cost, c.deadline_at, c.refunded, bool(c.media_key)
        )


def _check_accounts(
    accounts: dict[str, Account], money: dict[str, _Money], report: AuditReport
) -> list[Violation]:
    found: list[Violation] = []
    for uid in sorted(set(accounts) | set(money)):
        account = accounts.get(uid)
        m = money.get(uid, _Money())
        balance = account.tokens if account else 0
        report.tokens["granted"] += m.granted
        report.tokens["debited"] += m.debited
        report.tokens["refunded"] += m.refunded
        if m.credited or m.adjusted:  # figures of stores that have some only
            report.tokens["credited"] += m.credited
            report.tokens["adjusted"] += m.adjusted
        report.tokens["balance"] += balance
        expected = m.granted + m.credited + m.adjusted - m.debited + m.refunded
        if balance != expected:
            found.append(
                Violation(
                    "balance_mismatch",
                    uid,
                    f"balance {balance}, ledger {expected} (grants {m.granted} + credits"
                    f" {m.credited} + adjustments {m.adjusted} - debits {m.debited} + refunds"
                    f" {m.refunded}), drift {balance - expected:+d}",
                )
            )
        if balance < 0:
            found.append(Violation("negative_balance", uid, f"balance {balance}"))
        spent = account.total_tokens_spent if account else 0
        if account is not None and spent != m.debited - m.refunded:
            found.append(
                Violation(
                    "spent_mismatch",
                    uid,
                    f"totalTokensSpent {spent}, debits - refunds {m.debited - m.refunded}",
                )
            )
    return found


def _check_creation(
    c: _CreationFacts,
    debits: list[LedgerEntry],
    refunds: list[LedgerEntry],
    now: datetime,
    grace: timedelta,
) -> list[Violation]:
    found: list[Violation] = []
    status = f"{c.kind} {c.status}"
    refund_state = f"refund entries {len(refunds)}, refunded={c.refunded}"
    if not debits:
        found.append(Violation("missing_debit", c.id, f"{status} without debit-{c.id}"))
    if c.status in REFUNDED and not (refunds and c.refunded):
        found.append(Violation("unrefunded_failure", c.id, f"{status}, {refund_state}"))
    if c.status is Status.DRAFT:
        if refunds or c.refunded:
            found.append(Violation("refunded_draft", c.id, refund_state))
        if not c.has_media:
            found.append(Violation("draft_without_media", c.id, f"{status} without mediaKey"))
    elif c.status not in TERMINAL and (refunds or c.refunded):
        # A refund ends a creation in the same transaction: none is refunded and still going.
        found.append(Violation("refund_flag_mismatch", c.id, f"{status}, {refund_state}"))
    if c.status not in TERMINAL and now > c.deadline_at + grace:
        found.append(
            Violation(
                "stuck",
                c.id,
                f"{status} past its deadline {c.deadline_at.isoformat()} by"
                f" {(now - c.deadline_at).total_seconds():.0f} s",
            )
        )
    return found


def audit(
    accounts: list[Account] | tuple[Account, ...],
    creations: list[Creation] | tuple[Creation, ...],
    entries: list[LedgerEntry] | tuple[LedgerEntry, ...],
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
) -> AuditReport:
    """Every check over whole collections at once (the tests' shortcut to `Auditor`)."""
    auditor = Auditor()
    for a in accounts:
        auditor.add_account(a)
    for c in creations:
        auditor.add_creation(c)
    for e in entries:
        auditor.add_entry(e)
    return auditor.finish(now, grace)
