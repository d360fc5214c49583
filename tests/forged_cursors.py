"""Cursors a client can send that the api never issued: each must be a 400 naming `cursor`,
on the in-memory store and on Firestore alike (shared by tests/unit and tests/contract)."""

from __future__ import annotations

import base64
import json

WHEN = "2026-11-24T12:00:00+00:00"


def forge(*parts: object) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = {
    "slash": forge(WHEN, "a/b"),
    "dot": forge(WHEN, "."),
    "dotdot": forge(WHEN, ".."),
    "reserved": forge(WHEN, "__x__"),
    "empty id": forge(WHEN, ""),
    "number id": forge(WHEN, 7),
    "lone surrogate": base64.urlsafe_b64encode(b'["' + WHEN.encode() + b'","\\ud800"]')
    .decode()
    .rstrip("="),
    "too long id": forge(WHEN, "x" * 1501),
    "naive time": forge("2026-11-24T12:00:00", "abc"),
    "before year 1 in UTC": forge("0001-01-01T00:00:00+01:00", "abc"),
    "after 9999 in UTC": forge("9999-12-31T23:59:59-01:00", "abc"),
    "three parts": forge(WHEN, "abc", "def"),
    "deep": base64.urlsafe_b64encode(b"[" * 100_000).decode(),
    "huge": "A" * 5000,
}

PATHS = ("/api/creations", "/api/tokens")
