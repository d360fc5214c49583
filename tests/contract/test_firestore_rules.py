"""firestore.rules on the official emulator: what a signed-in client may read, and that no
client may write anything. Requests go through the emulator's REST API with emulator ID
tokens (unsigned, which the emulator accepts and enforces rules for); the backend's own
requests (the SDK, as `owner`) are not subject to rules, as in production.

Nothing here loads the rules: the suite's emulator is the one `make dev` runs
(devtools/firestore_emulator.py), which enforces firestore.rules from its start. The real
Firebase JS SDK meets the same rules through the whole stack in tests/firebase_sdk."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.adapters.firestore_store import FirestoreStore
from tests.builders import video

RULES = Path(__file__).resolve().parents[2] / "firestore.rules"
PROJECT = "demo-creator"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def id_token(uid: str) -> str:
    """An emulator ID token: the emulator reads its claims without checking a signature."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {
        "sub": uid,
        "user_id": uid,
        "aud": PROJECT,
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "iat": 1_700_000_000,
        "auth_time": 1_700_000_000,
        "exp": 4_000_000_000,
        "firebase": {"sign_in_provider": "password", "identities": {}},
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(scope="module")
def rest(firestore_emulator):
    base = firestore_emulator.url
    assert firestore_emulator.rules == RULES  # loaded at start, nothing uploaded here
    with httpx.Client(
        base_url=f"{base}/v1/projects/{PROJECT}/databases/(default)", timeout=30
    ) as c:
        yield c


@pytest.fixture(scope="module")
def people(firestore_client):
    """Two users with a video each (and so ledger entries), written by the backend."""
    store = FirestoreStore(lambda: firestore_client)
    made = {}
    for name in ("ann", "ben"):
        uid = f"{name}-{uuid.uuid4().hex[:8]}"
        store.ensure_account(uid, 100, NOW)
        creation = video(uid, at=NOW, deadline=timedelta(hours=1))
        store.debit_and_create(creation, NOW)
        made[name] = (uid, creation.id)
    return made


def as_user(uid: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {id_token(uid)}"} if uid else {}


def query(rest, uid, collection, where_uid):
    body = {
        "structuredQuery": {
            "from": [{"collectionId": collection}],
            "where": {
                "fieldFilter": {
                    "field": {"fieldPath": "userId"},
                    "op": "EQUAL",
                    "value": {"stringValue": where_uid},
                }
            },
        }
    }
    if where_uid is None:
        del body["structuredQuery"]["where"]
    return rest.post("/documents:runQuery", json=body, headers=as_user(uid))


def test_a_user_reads_their_own_account_creations_and_ledger(rest, people):
    ann, creation = people["ann"]
    assert rest.get(f"/documents/users/{ann}", headers=as_user(ann)).status_code == 200
    got = rest.get(f"/documents/creations/{creation}", headers=as_user(ann))
    assert got.status_code == 200 and got.json()["fields"]["userId"]["stringValue"] == ann
    entry = rest.get(f"/documents/transactions/debit-{creation}", headers=as_user(ann))
    assert entry.status_code == 200
    for collection in ("creations", "transactions"):
        listed = query(rest, ann, collection, ann)
        assert listed.status_code == 200, listed.text
        docs = [r["document"] for r in listed.json() if "document" in r]
        assert docs and all(d["fields"]["userId"]["stringValue"] == ann for d in docs)


def test_nobody_reads_someone_else_s_documents(rest, people):
    ann, ann_creation = people["ann"]
    ben, _ = people["ben"]
    for path in (
        f"/documents/users/{ann}",
        f"/documents/creations/{ann_creation}",
        f"/documents/transactions/debit-{ann_creation}",
    ):
        assert rest.get(path, headers=as_user(ben)).status_code == 403, path
        assert rest.get(path).status_code == 403, path  # not signed in
    for collection in ("creations", "transactions"):
        assert query(rest, ben, collection, ann).status_code == 403
        assert query(rest, ben, collection, None).status_code == 403  # a listing of all


def test_idempotency_keys_are_no_client_s_business(rest, people, firestore_client):
    ann, _ = people["ann"]
    [key] = list(firestore_client.collection("idempotencyKeys").limit(1).stream()) or [None]
    path = f"/documents/idempotencyKeys/{key.id if key else 'any'}"
    assert rest.get(path, headers=as_user(ann)).status_code == 403


@pytest.mark.parametrize("collection", ["users", "creations", "transactions", "idempotencyKeys"])
def test_no_client_writes_anything(rest, people, collection):
    ann, creation = people["ann"]
    own = {"users": ann, "creations": creation, "transactions": f"debit-{creation}"}
    doc_id = own.get(collection, "k")
    fields = {"fields": {"userId": {"stringValue": ann}, "tokens": {"integerValue": "1000000"}}}
    headers = as_user(ann)
    assert (
        rest.patch(f"/documents/{collection}/{doc_id}", json=fields, headers=headers).status_code
        == 403
    )
    assert rest.post(f"/documents/{collection}", json=fields, headers=headers).status_code == 403
    assert rest.delete(f"/documents/{collection}/{doc_id}", headers=headers).status_code == 403
