"""History and ledger pages: newest first, an opaque cursor, the caller's own only."""

from __future__ import annotations

import dataclasses

import pytest

from tests.forged_cursors import FORGED, PATHS

ALICE = {"Authorization": "Bearer dev:alice"}


def make(api_client, clock, n, kind="video"):
    ids = []
    for i in range(n):
        clock.advance(1)
        path = f"/api/generate/{kind}"
        ids.append(api_client.post(path, json={"prompt": f"p{i}"}, headers=ALICE).get_json())
    return [x["creationId"] for x in ids]


def pages(api_client, path, key, **params):
    seen, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = api_client.get(path, query_string=query, headers=ALICE).get_json()
        seen.append([item[key] for item in body[_list(path)]])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen


def _list(path):
    return "creations" if path == "/api/creations" else "entries"


def test_history_pages_newest_first_with_a_cursor(api_client, deps, clock):
    deps.settings = dataclasses.replace(deps.settings, max_in_flight_videos=0)
    videos = make(api_client, clock, 5)
    images = make(api_client, clock, 2, "image")

    got = pages(api_client, "/api/creations", "creationId", limit=3)

    assert got == [
        [images[1], images[0], videos[4]],
        [videos[3], videos[2], videos[1]],
        [videos[0]],
    ]


def test_history_filters_by_kind_and_status(api_client, deps, clock):
    videos = make(api_client, clock, 2)
    images = make(api_client, clock, 1, "image")
    api_client.post(f"/api/creations/{videos[0]}/cancel", headers=ALICE)

    def ids(**params):
        body = api_client.get("/api/creations", query_string=params, headers=ALICE).get_json()
        return [c["creationId"] for c in body["creations"]]

    assert ids(kind="image") == images
    assert ids(kind="video") == [videos[1], videos[0]]
    assert ids(status="cancelled") == [videos[0]]
    assert ids(kind="video", status="pending") == [videos[1]]


def test_history_is_the_caller_s_own(api_client, clock):
    make(api_client, clock, 2)
    other = {"Authorization": "Bearer dev:bob"}
    body = api_client.get("/api/creations", headers=other).get_json()
    assert body["creations"] == [] and body["nextCursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "gif"}, "kind"),
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
    ],
)
def test_bad_history_parameters_are_400_naming_them(api_client, params, field):
    for path in ("/api/creations", "/api/tokens"):
        if field in ("kind", "status") and path == "/api/tokens":
            continue
        response = api_client.get(path, query_string=params, headers=ALICE)
        assert response.status_code == 400, (path, params)
        assert field in response.get_json()["fields"]


def test_the_ledger_pages_past_a_hundred_entries(api_client, deps, clock):
    deps.settings = dataclasses.replace(deps.settings, max_in_flight_videos=0, starting_tokens=1000)
    made = make(api_client, clock, 110, "image")
    got = pages(api_client, "/api/tokens", "id", limit=100)
    assert [len(p) for p in got] == [100, 11]
    flat = [i for p in got for i in p]
    assert len(set(flat)) == 111 and flat[0] == f"debit-{made[-1]}"


@pytest.mark.parametrize("name", sorted(FORGED))
@pytest.mark.parametrize("path", PATHS)
def test_a_cursor_the_api_did_not_issue_is_400_naming_it(api_client, path, name):
    response = api_client.get(path, query_string={"cursor": FORGED[name]}, headers=ALICE)

    assert response.status_code == 400, response.get_json()
    assert "cursor" in response.get_json()["fields"]
    assert "Retry-After" not in response.headers
