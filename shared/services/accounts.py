"""Reading what a user owns: their creations and their tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.creation import Creation
from shared.domain.errors import CreationNotFound
from shared.domain.ledger import Account, LedgerEntry

if TYPE_CHECKING:
    from shared.bootstrap import Container


@dataclass(frozen=True)
class TokenSummary:
    account: Account
    entries: list[LedgerEntry]


def own_creation(deps: Container, uid: str, creation_id: str) -> Creation:
    """The caller's creation; someone else's is as missing as a missing one."""
    creation = deps.store.get_creation(creation_id)
    if creation is None or creation.user_id != uid:
        raise CreationNotFound(creation_id)
    return creation


def token_summary(deps: Container, uid: str, limit: int = 20) -> TokenSummary:
    account = deps.store.ensure_account(uid, deps.starting_grant, deps.clock())
    return TokenSummary(account, deps.store.ledger(uid, limit))
