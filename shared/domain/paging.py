"""Pages of a user's history, newest first, with an opaque cursor.

A cursor names the last item of a page by (createdAt, id), so the next page starts right
after it whatever was added meanwhile. Clients get it as an opaque base64url string.

A cursor comes back from the client, so every part of it is checked before a store sees it:
the time is an aware ISO 8601 instant within the store's range (year 1 to 9999 in UTC), the
id one a document can have (no `/`, not `.` or `..`, not `__...__`, at most 1,500 bytes).
Anything else is not a cursor we made: ValueError, which the api answers 400 `cursor`.
Nothing in it is secret or privileged (the query is still the caller's own), so a forged
cursor that passes these checks is only a position in the caller's own history.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar, overload

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 4096  # ours are under 100 characters (an instant and a document id)
MAX_ID_BYTES = 1500  # Firestore's limit for a document id
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)  # reserved by Firestore


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for anything that is not a cursor we made (see the module)."""
        if len(text) > MAX_CURSOR_CHARS:
            raise ValueError("not a cursor from this API")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at, item_id = json.loads(raw)
            when = datetime.fromisoformat(created_at)
            if when.tzinfo is None or when.utcoffset() is None:
                raise ValueError("a time without a zone")
            when = when.astimezone(UTC)  # OverflowError past year 1 or 9999 in UTC
        except (
            binascii.Error,
            ValueError,
            TypeError,
            UnicodeDecodeError,
            RecursionError,
            OverflowError,
        ) as exc:
            raise ValueError("not a cursor from this API") from exc
        if id_problem(item_id) is not None:
            raise ValueError("not a cursor from this API")
        return cls(when, item_id)


def id_problem(item_id: object) -> str | None:
    """Why `item_id` cannot be a document id, or None when it can."""
    if not isinstance(item_id, str) or not item_id:
        return "not a non-empty string"
    if "/" in item_id or item_id in (".", ".."):
        return "a path, not an id"
    if _RESERVED_ID.fullmatch(item_id):
        return "reserved by Firestore (__...__)"
    try:
        size = len(item_id.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        return "not UTF-8"
    if size > MAX_ID_BYTES:
        return f"longer than {MAX_ID_BYTES} bytes"
    return None


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
