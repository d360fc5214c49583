"""Tokens coming in (issue 20): the starting grant, an operator's grants and corrections, a
payment's credit, the prices before a submit and the daily spending cap, as a caller sees
them: status, body, balance and ledger entries."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from shared.bootstrap import Container
from shared.config import settings_from_env
from tests.unit.production_env import PRODUCTION

ADMIN = {"Authorization": "Bearer dev:admin"}
ALICE = {"Authorization": "Bearer dev:alice"}
PAYMENTS = {"Authorization": "Bearer dev-service:payments@local"}


def _grant(client, body, key="k-1", headers=ADMIN):
    return client.post("/api/admin/grants", json=body, headers={**headers, "Idempotency-Key": key})


def _ledger(client, who=ALICE):
    return client.get("/api/tokens", headers=who).get_json()


def test_production_settings_start_a_new_account_with_its_grant():
    settings = settings_from_env({**PRODUCTION, "STARTING_TOKENS": "25"})
    assert Container(settings).policy.starting_grant == 25
    assert Container(settings_from_env(PRODUCTION)).policy.starting_grant == 0


def test_a_new_account_gets_its_starting_grant_once_as_a_ledger_entry(api_client):
    first = _ledger(api_client)
    again = _ledger(api_client)
    assert first["balance"] == again["balance"] == 100
    assert [(e["type"], e["amount"]) for e in again["entries"]] == [("grant", 100)]


def test_an_operator_grant_is_one_entry_with_who_when_and_why(api_client, deps, clock):
    answer = _grant(api_client, {"uid": "alice", "amount": 50, "reason": "ticket 4411"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["balance"] == 150 and body["replayed"] is False  # opened with 100 first
    entry = body["entry"]
    assert entry["type"] == "grant" and entry["amount"] == 50
    assert entry["by"] == "admin" and entry["reason"] == "ticket 4411"
    assert entry["createdAt"].startswith(clock().date().isoformat())
    seen = _ledger(api_client)
    assert seen["balance"] == 150
    assert [e["type"] for e in seen["entries"]] == ["grant", "grant"]
    assert entry["id"] in [e["id"] for e in seen["entries"]]


def test_a_replay_answers_the_first_result_and_another_body_is_a_conflict(api_client):
    body = {"uid": "alice", "amount": 50, "reason": "ticket 4411"}
    first = _grant(api_client, body).get_json()
    _grant(api_client, {"uid": "alice", "amount": 5, "reason": "other"}, key="k-2")
    again = _grant(api_client, body).get_json()
    assert again["replayed"] is True
    assert again["entry"] == first["entry"] and again["balance"] == first["balance"] == 150
    conflict = _grant(api_client, {**body, "amount": 51})
    assert conflict.status_code == 422 and conflict.get_json()["code"] == "idempotency_conflict"
    assert _ledger(api_client)["balance"] == 155


def test_a_correction_is_an_adjustment_and_never_goes_below_zero(api_client):
    fixed = _grant(api_client, {"uid": "alice", "amount": -30, "reason": "double grant"})
    assert fixed.status_code == 200
    assert fixed.get_json()["entry"]["type"] == "adjustment"
    assert fixed.get_json()["entry"]["amount"] == -30 and fixed.get_json()["balance"] == 70
    refused = _grant(api_client, {"uid": "alice", "amount": -71, "reason": "x"}, key="k-2")
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "balance_too_low"
    seen = _ledger(api_client)
    assert seen["balance"] == 70 and len(seen["entries"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uid": "alice", "amount": 5}, "reason"),
        ({"uid": "alice", "amount": 5, "reason": "   "}, "reason"),
        ({"uid": "a/b", "amount": 5, "reason": "r"}, "uid"),
        ({"uid": "__x__", "amount": 5, "reason": "r"}, "uid"),
        ({"uid": "alice", "amount": 0, "reason": "r"}, "amount"),
        ({"uid": "alice", "amount": 2.5, "reason": "r"}, "amount"),
        ({"uid": "alice", "amount": 10_000_000, "reason": "r"}, "amount"),
    ],
)
def test_a_bad_grant_is_a_400_naming_the_field_and_changes_nothing(api_client, deps, body, field):
    answer = _grant(api_client, body)
    assert answer.status_code == 400, answer.get_json()
    assert field in answer.get_json()["fields"]
    assert deps.store.entries == {}


def test_a_grant_needs_an_idempotency_key_and_an_operator(api_client, deps):
    body = {"uid": "alice", "amount": 5, "reason": "r"}
    missing = api_client.post("/api/admin/grants", json=body, headers=ADMIN)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.get_json()["fields"]
    refused = _grant(api_client, body, headers=ALICE)
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert deps.store.entries == {}


def _credit(client, body, headers=PAYMENTS):
    return client.post("/api/credits", json=body, headers=headers)


CREDIT = {"uid": "bob", "amount": 500, "externalId": "pi_3Q9", "reason": "pack of 500"}


def test_a_credit_is_applied_once_per_external_id(api_client, deps):
    first = _credit(api_client, CREDIT)
    body = first.get_json()
    assert first.status_code == 200, body
    assert body["balance"] == 600 and body["entry"]["type"] == "credit"
    assert body["entry"]["externalId"] == "pi_3Q9" and body["entry"]["by"] == "payments@local"
    again = _credit(api_client, CREDIT).get_json()
    assert again["replayed"] is True and again["entry"] == body["entry"]
    conflict = _credit(api_client, {**CREDIT, "amount": 5})
    assert conflict.status_code == 422 and conflict.get_json()["code"] == "idempotency_conflict"
    other_user = _credit(api_client, {**CREDIT, "uid": "carol"})
    assert other_user.status_code == 422
    bob = _ledger(api_client, {"Authorization": "Bearer dev:bob"})
    assert bob["balance"] == 600
    assert sorted(e["type"] for e in bob["entries"]) == ["credit", "grant"]


def test_forty_simultaneous_credits_of_one_payment_are_one_entry(api_client, deps):
    def send(i: int) -> int:
        return _credit(api_client, {**CREDIT, "uid": "dan"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(40)))
    assert set(statuses) == {200}
    credits = [e for e in deps.store.entries.values() if e.type == "credit"]
    assert len(credits) == 1 and deps.store.accounts["dan"].tokens == 600


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (ALICE, 401),  # a user's token is not a service's
        ({"Authorization": "Bearer dev-service:someone@local"}, 403),
    ],
)
def test_only_a_payments_caller_may_credit(api_client, deps, headers, status):
    answer = _credit(api_client, CREDIT, headers)
    assert answer.status_code == status
    assert deps.store.entries == {}


def test_credits_are_refused_when_no_caller_is_configured(deps):
    from functions.api import create_app

    settings = dataclasses.replace(deps.settings, credit_callers=())
    no_callers = Container(settings, store=deps.store, identity=deps.identity)
    answer = _credit(create_app(no_callers).test_client(), CREDIT)
    assert answer.status_code == 403 and deps.store.entries == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"externalId": ""}, "externalId"),
        ({"externalId": "has space"}, "externalId"),
        ({"reason": ""}, "reason"),
        ({"uid": "a\\nb"}, "uid"),
    ],
)
def test_a_bad_credit_is_a_400_naming_the_field(api_client, deps, change, field):
    answer = _credit(api_client, {**CREDIT, **change})
    assert answer.status_code == 400 and field in answer.get_json()["fields"]
    assert deps.store.entries == {}


def test_the_price_shown_is_the_price_charged(api_client, deps):
    prices = api_client.get("/api/prices")
    assert prices.status_code == 200 and "public" in prices.headers["Cache-Control"]
    by_kind = {p["kind"]: p["tokens"] for p in prices.get_json()["prices"]}
    before = _ledger(api_client)["balance"]
    made = api_client.post("/api/generate/image", json={"prompt": "a boat"}, headers=ALICE)
    assert made.status_code == 200
    video = api_client.post("/api/generate/video", json={"prompt": "a fox"}, headers=ALICE)
    assert video.status_code == 202
    debits = {
        e["reason"]: e["amount"] for e in _ledger(api_client)["entries"] if e["type"] == "debit"
    }
    assert debits == {"image generation": by_kind["image"], "video generation": by_kind["video"]}
    assert _ledger(api_client)["balance"] == before - by_kind["image"] - by_kind["video"]


def test_past_the_daily_cap_a_submit_is_429_and_not_charged(deps, clock):
    from functions.api import create_app

    deps.settings = dataclasses.replace(deps.settings, daily_spend_limit_tokens=2)
    client = create_app(deps).test_client()
    for _ in range(2):
        assert (
            client.post("/api/generate/image", json={"prompt": "a"}, headers=ALICE).status_code
            == 200
        )
    refused = client.post("/api/generate/image", json={"prompt": "a"}, headers=ALICE)
    body = refused.get_json()
    assert refused.status_code == 429 and body["code"] == "daily_limit", body
    assert body["charged"] is False and body["limit"] == 2 and body["spentToday"] == 2
    assert body["resetsAt"].startswith((clock() + timedelta(days=1)).date().isoformat())
    assert int(refused.headers["Retry-After"]) > 0
    assert _ledger(client)["balance"] == 98
    clock.advance(86_400)
    assert (
        client.post("/api/generate/image", json={"prompt": "a"}, headers=ALICE).status_code == 200
    )
