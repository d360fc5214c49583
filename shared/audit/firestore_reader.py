"""Read the whole store from Firestore, page by page, into an `Auditor`.

Each collection (users, creations, transactions) is read in pages of `page_size` documents
ordered by document id, each page starting after the last document of the one before, so
that memory and each call stay bounded whatever the size. Every page has a read timeout
and a bounded retry. All pages are read at one `read_time` (a consistent snapshot of the
whole database, as Firestore keeps the last hour of versions), so that traffic during the
audit cannot make a balance look different from its ledger.

Needs read access only (roles/datastore.viewer). Locally it reads the emulator named by
FIRESTORE_EMULATOR_HOST.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.adapters import firestore_documents as docs
from shared.adapters.firestore_store import _read_retry
from shared.audit.checks import Auditor

DEFAULT_PAGE_SIZE = 1000
DEFAULT_TIMEOUT = 60.0  # seconds for one page, its retries included
# Only the fields the checks read (a projection: prompts can be 2,000 characters each).
USER_FIELDS = ["tokens", "totalTokensSpent", "inFlight"]
CREATION_FIELDS = [
    "userId", "kind", "status", "cost", "createdAt", "updatedAt", "deadlineAt", "refunded",
    "mediaKey",
]  # fmt: skip
ENTRY_FIELDS = ["userId", "type", "amount", "creationId", "createdAt"]


@dataclass
class ReadFigures:
    pages: int = 0
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def pages(
    client: Any,
    collection: str,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    read_time: datetime | None = None,
    fields: list[str] | None = None,
) -> Iterator[list[Any]]:
    """The collection's document snapshots (only `fields`, when given), one page (a list)
    at a time, by document id."""
    from google.cloud.firestore_v1.field_path import FieldPath

    base = client.collection(collection).order_by(FieldPath.document_id()).limit(page_size)
    if fields is not None:
        base = base.select(fields)
    last = None
    while True:
        query = base.start_after(last) if last is not None else base
        kwargs: dict[str, Any] = {"retry": _read_retry(timeout), "timeout": timeout}
        if read_time is not None:
            kwargs["read_time"] = read_time
        page = list(query.stream(**kwargs))
        if page:
            yield page
        if len(page) < page_size:
            return
        last = page[-1]


def read_store(
    client: Any,
    auditor: Auditor,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    read_time: datetime | None = None,
    on_page: Callable[[str, int], None] | None = None,
) -> ReadFigures:
    """Feed every user, creation and ledger entry to `auditor`; a document that cannot be
    read as what its collection holds is reported as `unreadable`, not skipped silently."""
    figures = ReadFigures()
    started = time.perf_counter()
    readers: list[tuple[str, list[str], Callable[[Any], None]]] = [
        (docs.USERS, USER_FIELDS, lambda s: _add_account(auditor, s)),
        (docs.CREATIONS, CREATION_FIELDS, lambda s: auditor.add_creation(_creation(s))),
        (docs.TRANSACTIONS, ENTRY_FIELDS, lambda s: auditor.add_entry(_entry(s))),
    ]
    for collection, fields, add in readers:
        count = 0
        for page in pages(
            client,
            collection,
            page_size=page_size,
            timeout=timeout,
            read_time=read_time,
            fields=fields,
        ):
            figures.pages += 1
            for snapshot in page:
                try:
                    add(snapshot)
                except (KeyError, ValueError, TypeError) as exc:
                    path = f"{collection}/{snapshot.id}"
                    auditor.add_unreadable(path, f"{type(exc).__name__}: {exc}")
            count += len(page)
            if on_page:
                on_page(collection, count)
        figures.documents[collection] = count
    figures.seconds = time.perf_counter() - started
    return figures


def _creation(snapshot: Any) -> Any:
    # The projection leaves out what no check reads; those fields get neutral values.
    doc = {"prompt": "", "parameters": {}, **snapshot.to_dict()}
    return docs.creation_from_doc(snapshot.id, doc)


def _entry(snapshot: Any) -> Any:
    return docs.entry_from_doc(snapshot.id, snapshot.to_dict())


def _add_account(auditor: Auditor, snapshot: Any) -> None:
    doc = snapshot.to_dict()
    in_flight = doc.get("inFlight")
    auditor.add_account(
        docs.account_from_doc(snapshot.id, doc),
        int(in_flight) if in_flight is not None else None,
    )
