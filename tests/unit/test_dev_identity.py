"""Dev identities: `Bearer dev:<uid>` and nothing else."""

from __future__ import annotations

import pytest

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.domain.errors import Unauthenticated


@pytest.mark.parametrize(
    ("header", "uid"),
    [
        ("Bearer dev:alice", "alice"),
        ("bearer dev:Bob_2", "Bob_2"),
        ("BEARER dev:a-b", "a-b"),
        ("Bearer dev:" + "x" * 64, "x" * 64),
    ],
)
def test_accepts(header, uid):
    assert DevIdentityVerifier().verify(header) == uid


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing(header):
    with pytest.raises(Unauthenticated, match="Missing Authorization header"):
        DevIdentityVerifier().verify(header)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer alice",
        "Bearer dev:",
        "Bearer dev:" + "x" * 65,
        "Bearer dev:al ice",
        "Bearer dev:al/ice",
        "Bearer dev:alice\n",
        "Basic dev:alice",
        "dev:alice",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig",
        "Bearer  dev:alice",
        "Bearer dev:ålice",
    ],
)
def test_rejects(header):
    with pytest.raises(Unauthenticated) as info:
        DevIdentityVerifier().verify(header)
    assert "Bearer dev:<uid>" in str(info.value)
