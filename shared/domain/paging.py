"""Pages of a user's history, newest first, with an opaque cursor.

A cursor names the last item of a page by (createdAt, id), so the next page starts right
after it whatever was added meanwhile. Clients get it as an opaque base64url string.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar, overload

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for anything that is not a cursor we made."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at, item_id = json.loads(raw)
            when = datetime.fromisoformat(created_at)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError("not a cursor from this API") from exc
        if not isinstance(item_id, str) or not item_id or when.tzinfo is None:
            raise ValueError("not a cursor from this API")
        return cls(when, item_id)


@dataclass(frozen=True)
class Page(Sequence[T], Generic[T]):
    """A sequence of items, newest first, and the cursor of the page after it."""

    items: list[T]
    next: Cursor | None  # None: this was the last page

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)
