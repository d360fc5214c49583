"""History and ledger paging through the api on the Firestore adapter (the emulator): the
cursors it issues work, and a cursor it did not issue is a 400 naming `cursor`, never the
SDK's ValueError (500) nor a retryable 503."""

from __future__ import annotations

import uuid

import pytest

from functions import api
from shared.adapters.firestore_store import FirestoreStore
from tests.fakes.container import fake_container
from tests.forged_cursors import FORGED, PATHS


@pytest.fixture(scope="module")
def firestore_api(firestore_client, tmp_path_factory):
    store = FirestoreStore(lambda: firestore_client)
    deps = fake_container(tmp_path_factory.mktemp("state"), store=store)
    return api.create_app(deps).test_client()


@pytest.fixture(scope="module")
def user(firestore_api):
    """A user with three images (and so four ledger entries)."""
    headers = {"Authorization": f"Bearer dev:u{uuid.uuid4().hex[:12]}"}
    for i in range(3):
        made = firestore_api.post("/api/generate/image", json={"prompt": f"p{i}"}, headers=headers)
        assert made.status_code == 200, made.get_json()
    return headers


@pytest.mark.parametrize("path", PATHS)
def test_the_cursors_the_api_issues_page_through_firestore(firestore_api, user, path):
    key = "creations" if path == "/api/creations" else "entries"
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = firestore_api.get(path, query_string=query, headers=user)
        assert response.status_code == 200, response.get_json()
        seen += [item.get("creationId") or item["id"] for item in response.get_json()[key]]
        cursor = response.get_json()["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == (3 if key == "creations" else 4)


@pytest.mark.parametrize("name", sorted(FORGED))
@pytest.mark.parametrize("path", PATHS)
def test_a_forged_cursor_is_400_on_firestore(firestore_api, user, path, name):
    response = firestore_api.get(path, query_string={"cursor": FORGED[name]}, headers=user)

    assert response.status_code == 400, response.get_json()
    assert "cursor" in response.get_json()["fields"]
    assert "Retry-After" not in response.headers
