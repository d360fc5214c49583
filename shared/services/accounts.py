"""Reading what a user owns: their creations and their tokens, a page at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.domain.creation import Creation, CreationFilter
from shared.domain.errors import CreationNotFound
from shared.domain.ledger import Account, LedgerEntry
from shared.domain.paging import Cursor, Page

if TYPE_CHECKING:
    from shared.services.deps import Deps


def own_creation(deps: Deps, uid: str, creation_id: str) -> Creation:
    """The caller's creation; someone else's is as missing as a missing one."""
    creation = deps.queries.get_creation(creation_id)
    if creation is None or creation.user_id != uid:
        raise CreationNotFound(creation_id)
    return creation


def account(deps: Deps, uid: str) -> Account:
    """The caller's account, opened with the starting grant on first use."""
    return deps.store.ensure_account(uid, deps.policy.starting_grant, deps.clock())


def history(
    deps: Deps,
    uid: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 20,
    after: Cursor | None = None,
) -> Page[Creation]:
    return deps.queries.creations(uid, CreationFilter(kind, status), limit, after)


def ledger(deps: Deps, uid: str, limit: int = 20, after: Cursor | None = None) -> Page[LedgerEntry]:
    return deps.queries.ledger(uid, limit, after)
