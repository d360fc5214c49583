"""The composite indexes the store's queries need in production (the emulator needs none,
so nothing else would notice a missing one until the reconciler failed in production)."""

from __future__ import annotations

import json
from pathlib import Path

INDEXES = Path(__file__).resolve().parents[2] / "firestore.indexes.json"


def declared() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    doc = json.loads(INDEXES.read_text())
    return {
        (i["collectionGroup"], tuple((f["fieldPath"], f["order"]) for f in i["fields"]))
        for i in doc["indexes"]
    }


def test_the_stale_sweep_query_has_its_index():
    # FirestoreStore.stale_creations: status in [...], updatedAt <, order by updatedAt
    assert ("creations", (("status", "ASCENDING"), ("updatedAt", "ASCENDING"))) in declared()


def test_the_ledger_query_has_its_index():
    # FirestoreStore.ledger: userId ==, order by createdAt descending
    assert ("transactions", (("userId", "ASCENDING"), ("createdAt", "DESCENDING"))) in declared()


def test_every_history_query_has_its_index():
    # FirestoreStore.creations: userId ==, [kind ==], [status ==], order by createdAt desc
    for middle in ((), ("kind",), ("status",), ("kind", "status")):
        fields = (("userId", "ASCENDING"), *((f, "ASCENDING") for f in middle))
        assert ("creations", (*fields, ("createdAt", "DESCENDING"))) in declared(), middle


def test_the_latest_failures_query_has_its_index():
    # FirestoreStore.latest_failures: status ==, order by updatedAt descending
    assert ("creations", (("status", "ASCENDING"), ("updatedAt", "DESCENDING"))) in declared()


def test_the_overview_s_day_query_has_its_index():
    # FirestoreStore.recent_creations(statuses=...): status in, createdAt >=, order desc
    assert ("creations", (("status", "ASCENDING"), ("createdAt", "DESCENDING"))) in declared()


def test_the_overview_s_movement_totals_have_their_index():
    # FirestoreStore.entry_totals: type ==, createdAt >=, count and sum(amount): a sum is
    # computed from the index, so the summed field is in it, after the range field.
    fields = (("type", "ASCENDING"), ("createdAt", "ASCENDING"), ("amount", "ASCENDING"))
    assert ("transactions", fields) in declared()


def test_the_oldest_waiting_query_has_its_index():
    # FirestoreStore.oldest_waiting: status ==, order by createdAt ascending, limit 1
    assert ("creations", (("status", "ASCENDING"), ("createdAt", "ASCENDING"))) in declared()
