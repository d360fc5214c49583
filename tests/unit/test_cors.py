"""CORS: the app's frontend, on another origin, can call the api from a browser."""

from __future__ import annotations

import pytest

ORIGIN = "http://127.0.0.1:8090"  # the local web console's origin, allowed by default
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
}


def test_a_preflight_is_answered_before_authentication(api_client, deps):
    response = api_client.options("/api/generate/video", headers=PREFLIGHT)

    assert response.status_code == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "idempotency-key"}
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in headers["Vary"]
    assert deps.store.get_account("alice") is None  # nothing ran


def test_an_actual_request_exposes_location_and_retry_after(api_client):
    response = api_client.post(
        "/api/generate/video",
        json={"prompt": "a heron"},
        headers={"Origin": ORIGIN, "Authorization": "Bearer dev:alice"},
    )
    assert response.status_code == 202
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"Location", "Retry-After"}
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1:8091", "null", "http://127.0.0.1"]
)
def test_a_disallowed_origin_gets_no_cors_headers(api_client, origin):
    preflight = api_client.options("/api/generate/video", headers={**PREFLIGHT, "Origin": origin})
    actual = api_client.get("/api/health/queue", headers={"Origin": origin})
    for response in (preflight, actual):
        assert not [k for k, _ in response.headers.items() if k.startswith("Access-Control-")]


def test_errors_carry_cors_headers_too_so_the_browser_can_read_them(api_client):
    response = api_client.post(
        "/api/generate/video", json={"prompt": "x"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
