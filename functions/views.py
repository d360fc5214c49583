"""Read models: what the api answers for the domain's objects (ledger entries, token
movements), shared by the user's and the operator's routes."""

from __future__ import annotations

from functions import schemas
from shared.domain.grants import Moved
from shared.domain.ledger import LedgerEntry


def movement_out(moved: Moved) -> schemas.MovementAnswer:
    return schemas.MovementAnswer(
        balance=moved.balance, entry=entry_out(moved.entry), replayed=moved.replayed
    )


def entry_out(e: LedgerEntry) -> schemas.LedgerEntryOut:
    return schemas.LedgerEntryOut.model_validate(e)
