"""Dev identities: `Bearer dev:<uid>` and nothing else, for any uid the uid rule accepts."""

from __future__ import annotations

import pytest

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.domain.errors import Unauthenticated
from shared.domain.identity import UNSUPPORTED_UID


@pytest.mark.parametrize(
    ("header", "uid"),
    [
        ("Bearer dev:alice", "alice"),
        ("bearer dev:Bob_2", "Bob_2"),
        ("BEARER dev:a-b", "a-b"),
        ("Bearer dev:" + "x" * 128, "x" * 128),
        ("Bearer dev:user@example.com", "user@example.com"),
        ("Bearer dev:tenant:42+bob.x", "tenant:42+bob.x"),
        ("Bearer dev:Xy3kP0aBcDeFgHiJkLmNoPqRsT12", "Xy3kP0aBcDeFgHiJkLmNoPqRsT12"),
        ("Bearer dev:ålice", "ålice"),
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
        "Basic dev:alice",
        "dev:alice",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig",
        "Bearer  dev:alice",
        "Bearer dev alice",
    ],
)
def test_rejects_other_shapes(header):
    with pytest.raises(Unauthenticated) as info:
        DevIdentityVerifier().verify(header)
    assert "Bearer dev:<uid>" in str(info.value)


@pytest.mark.parametrize(
    "uid",
    [
        "",
        "x" * 129,
        "al ice",
        "al/ice",
        "a/b/c",
        "al\\ice",
        "alice\n",
        "a\x00b",
        ".",
        "..",
        "__main__",
        "__x__",
        "a\u202eb",
    ],
)
def test_refuses_uids_that_cannot_be_a_document_id_or_a_media_key(uid):
    """The same rule and the same 401 message as for Firebase users (shared.domain.identity)."""
    with pytest.raises(Unauthenticated) as info:
        DevIdentityVerifier().verify(f"Bearer dev:{uid}")
    assert str(info.value) == UNSUPPORTED_UID
