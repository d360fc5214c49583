"""FirebaseIdentityVerifier against tokens signed by a test key served like Google's certs."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import uuid

import pytest

from shared.adapters.firebase_identity import FirebaseIdentityVerifier
from shared.adapters.jwt_keys import FIREBASE_X509_URL, KeysUnavailable, RemoteKeySource
from shared.domain.errors import IdentityUnavailable, Unauthenticated
from shared.domain.identity import UNSUPPORTED_UID
from tests.servers.keys import KeyServer, TestKey, forge_hs256, mint, unsigned

PROJECT = "demo-creator"
ISSUER = f"https://securetoken.google.com/{PROJECT}"
NOW = 1_750_000_000.0
SAFE_MESSAGES = {
    "Invalid or expired identity token",
    "Missing Authorization header",
    "Expected a Bearer token",
    UNSUPPORTED_UID,
}
LEAKS = ("signature", "audience", "issuer", "expired", "kid", "alg")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def key() -> TestKey:
    return TestKey.generate()


@pytest.fixture(scope="module")
def other_key() -> TestKey:
    return TestKey.generate()


@pytest.fixture
def server(key):
    with KeyServer([key], max_age=3600) as s:
        yield s


@pytest.fixture
def mono() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def wall() -> Clock:
    return Clock(NOW)


@pytest.fixture
def source(server, mono) -> RemoteKeySource:
    return RemoteKeySource(server.x509_url, "x509", clock=mono)


@pytest.fixture
def verifier(source, wall) -> FirebaseIdentityVerifier:
    return FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)


def claims(**overrides):
    base = {
        "iss": ISSUER,
        "aud": PROJECT,
        "auth_time": int(NOW) - 600,
        "user_id": "uid-123",
        "sub": "uid-123",
        "iat": int(NOW) - 60,
        "exp": int(NOW) + 3540,
        "email": "someone@example.com",
        "email_verified": True,
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(verifier, header: str | None, token: str | None = None) -> str:
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(header)
    message = str(info.value)
    assert message in SAFE_MESSAGES
    # "expired" only as part of the one generic phrase, the same for every cause.
    rest = message.lower().replace("invalid or expired identity token", "")
    for word in LEAKS:
        assert word not in rest
    if token:
        assert token not in message
    return message


# --- accepted -------------------------------------------------------------------------------


def test_valid_token_gives_the_uid(verifier, key):
    assert verifier.verify(bearer(mint(claims(), key))) == "uid-123"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_scheme_is_case_insensitive(verifier, key, scheme):
    assert verifier.verify(f"{scheme}  {mint(claims(), key)} ") == "uid-123"


def test_sub_of_128_characters(verifier, key):
    assert verifier.verify(bearer(mint(claims(sub="u" * 128), key))) == "u" * 128


@pytest.mark.parametrize(
    "uid",
    [
        pytest.param("Xy3kP0aBcDeFgHiJkLmNoPqRsT12", id="firebase-auth-uid"),
        pytest.param("user@example.com", id="email"),
        pytest.param("tenant:42+bob_x-y.z", id="custom-punctuation"),
        pytest.param("auth0|5f7c8ec7c33c6c004bbafe82", id="pipe"),
        pytest.param("josé", id="non-ascii"),
    ],
)
def test_every_real_uid_shape_is_accepted(verifier, key, uid):
    assert verifier.verify(bearer(mint(claims(sub=uid, user_id=uid), key))) == uid


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(NOW) - 5},  # expired 5 s ago: within the 10 s skew
        {"iat": int(NOW) + 5},
        {"auth_time": int(NOW) + 5},
    ],
)
def test_clock_skew_is_tolerated(verifier, key, overrides):
    assert verifier.verify(bearer(mint(claims(**overrides), key))) == "uid-123"


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "another-project"}, id="wrong-aud"),
        pytest.param({"aud": [PROJECT]}, id="aud-list"),
        pytest.param({"iss": [ISSUER]}, id="iss-list"),
        pytest.param({"iss": "https://accounts.google.com"}, id="google-iss"),
        pytest.param({"iss": "accounts.google.com"}, id="google-iss-bare"),
        pytest.param({"iss": "https://securetoken.google.com/another"}, id="other-project-iss"),
        pytest.param({"exp": int(NOW) - 11}, id="expired"),
        pytest.param({"exp": int(NOW) - 3600}, id="long-expired"),
        pytest.param({"iat": int(NOW) + 60}, id="iat-future"),
        pytest.param({"auth_time": int(NOW) + 60}, id="auth-time-future"),
        pytest.param({"sub": ""}, id="empty-sub"),
        pytest.param({"sub": "u" * 129}, id="long-sub"),
        pytest.param({"sub": 12345}, id="int-sub"),
        pytest.param({"sub": None}, id="no-sub"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"auth_time": None}, id="no-auth-time"),
        pytest.param({"exp": "9999999999"}, id="string-exp"),
        pytest.param({"exp": True}, id="bool-exp"),
        pytest.param({"nbf": int(NOW) + 60}, id="nbf-future"),
    ],
)
def test_bad_claims_are_refused(verifier, key, overrides):
    token = mint(claims(**overrides), key)
    assert refused(verifier, bearer(token), token) == "Invalid or expired identity token"


@pytest.mark.parametrize(
    "uid",
    [
        pytest.param("a/b", id="slash"),  # was a ValueError from Firestore: a 500
        pytest.param("a/b/c", id="nested-path"),  # was a write to users/a/b/c
        pytest.param("..", id="dotdot"),  # was a 503
        pytest.param(".", id="dot"),
        pytest.param("__x__", id="reserved"),  # was a 503
        pytest.param("__main__", id="reserved-main"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("al ice", id="space"),
        pytest.param("alice\n", id="newline"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\u202eb", id="bidi-override"),
    ],
)
def test_a_valid_token_whose_uid_cannot_be_stored_is_refused_clearly(verifier, key, caplog, uid):
    token = mint(claims(sub=uid, user_id=uid), key)
    with caplog.at_level(logging.WARNING, logger="creator.identity"):
        assert refused(verifier, bearer(token), token) == UNSUPPORTED_UID
    [record] = [r for r in caplog.records if r.name == "creator.identity.firebase"]
    assert record.levelno == logging.WARNING and "uid refused" in record.getMessage()
    assert token not in record.getMessage()


def test_unknown_kid(verifier, key):
    token = mint(claims(), key, kid="not-a-published-kid")
    refused(verifier, bearer(token), token)


def test_signed_by_another_key_with_a_published_kid(verifier, key, other_key):
    token = mint(claims(), other_key, kid=key.kid)
    refused(verifier, bearer(token), token)


def test_tampered_payload(verifier, key):
    token = mint(claims(), key)
    forged = mint(claims(sub="admin"), key).split(".")[1]
    head, _, sig = token.split(".")
    tampered = f"{head}.{forged}.{sig}"
    assert verifier.verify(bearer(token)) == "uid-123"
    refused(verifier, bearer(tampered), tampered)


@pytest.mark.parametrize("kid", [True, False], ids=["with-kid", "without-kid"])
def test_alg_none(verifier, key, server, kid):
    token = unsigned(claims(), kid=key.kid if kid else None)
    refused(verifier, bearer(token), token)
    refused(verifier, bearer(token + "c2ln"), token)


@pytest.mark.parametrize("secret", ["public_pem", "cert_pem"])
def test_hs256_forged_with_the_public_key(verifier, key, secret):
    material = key.public_pem if secret == "public_pem" else key.cert_pem.encode()  # noqa: S105
    token = forge_hs256(claims(), material, kid=key.kid)
    refused(verifier, bearer(token), token)


def test_other_rsa_algorithms_are_refused(verifier, key):
    for alg in ("RS512", "PS256"):
        token = mint(claims(), key, algorithm=alg)
        refused(verifier, bearer(token), token)


def test_no_kid(verifier, key):
    token = mint(claims(), key, kid="")
    refused(verifier, bearer(token), token)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(verifier, header):
    assert refused(verifier, header) == "Missing Authorization header"


@pytest.mark.parametrize("header", ["Basic x", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "x"])
def test_not_a_bearer_token(verifier, header):
    assert refused(verifier, header) == "Expected a Bearer token"


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "a.b", "....", "eyJhbGciOiJSUzI1NiJ9.e30.", "é.é.é", "x" * 20000],
)
def test_garbage_tokens_are_refused_without_fetching_keys(verifier, server, token):
    assert refused(verifier, bearer(token), token) == "Invalid or expired identity token"
    assert server.count("/x509") == 0


def test_the_reason_goes_to_a_debug_log_without_the_token(verifier, key, caplog):
    token = mint(claims(aud="another-project"), key)
    with caplog.at_level(logging.DEBUG, logger="creator.identity"):
        refused(verifier, bearer(token), token)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "audience" in text
    assert token not in text
    assert token.split(".")[2] not in text


# --- the key cache --------------------------------------------------------------------------


def test_keys_are_fetched_once_for_many_verifications(verifier, key, server):
    for i in range(25):
        assert verifier.verify(bearer(mint(claims(sub=f"u{i}"), key))) == f"u{i}"
    assert server.count("/x509") == 1


def assert_keys_kept_an_hour(verifier, key, server, mono) -> None:
    token = mint(claims(), key)
    verifier.verify(bearer(token))
    mono.t += 3599
    verifier.verify(bearer(token))
    assert server.count("/x509") == 1
    mono.t += 2
    verifier.verify(bearer(token))
    assert server.count("/x509") == 2


def test_keys_are_fetched_again_when_max_age_passes(verifier, key, server, mono):
    assert_keys_kept_an_hour(verifier, key, server, mono)  # the server says max-age=3600


def test_without_cache_control_keys_are_kept_an_hour(key, mono, wall):
    with KeyServer([key], max_age=None) as server:
        source = RemoteKeySource(server.x509_url, "x509", clock=mono)
        verifier = FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)
        assert_keys_kept_an_hour(verifier, key, server, mono)


def test_a_new_kid_is_fetched_on_rotation(verifier, key, server, mono):
    verifier.verify(bearer(mint(claims(), key)))
    new_key = TestKey.generate()
    server.set_keys([key, new_key])
    mono.t += 31
    assert verifier.verify(bearer(mint(claims(sub="new"), new_key))) == "new"
    assert server.count("/x509") == 2
    assert verifier.verify(bearer(mint(claims(sub="old"), key))) == "old"
    assert server.count("/x509") == 2


def test_unknown_kids_refetch_at_most_once_per_30_seconds(verifier, key, server, mono):
    verifier.verify(bearer(mint(claims(), key)))
    assert server.count("/x509") == 1
    # Right after a fetch: an unknown kid is refused from the cache.
    for _ in range(20):
        refused(verifier, bearer(mint(claims(), key, kid=uuid.uuid4().hex)))
    assert server.count("/x509") == 1
    mono.t += 31
    for _ in range(20):
        refused(verifier, bearer(mint(claims(), key, kid=uuid.uuid4().hex)))
        mono.t += 1
    assert server.count("/x509") == 2  # one refetch in those 20 s
    mono.t += 15
    refused(verifier, bearer(mint(claims(), key, kid=uuid.uuid4().hex)))
    assert server.count("/x509") == 3
    assert verifier.verify(bearer(mint(claims(), key))) == "uid-123"
    assert server.count("/x509") == 3


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        ({"cache-control": "public, max-age=19854, must-revalidate, no-transform"}, 19854),
        ({"cache-control": "public, max-age=19854", "age": "854"}, 19000),
        ({"cache-control": "no-cache"}, 3600),
        ({}, 3600),
        ({"cache-control": "max-age=0"}, 30),  # never refetch per request
        ({"cache-control": "max-age=999999999"}, 86400),
    ],
)
def test_cache_lifetime_from_cache_control(headers, ttl):
    assert RemoteKeySource("http://unused", "x509")._max_age(headers) == ttl


def test_concurrent_cold_start_fetches_once(key, server, wall):
    source = RemoteKeySource(server.x509_url, "x509")
    verifier = FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)
    token = mint(claims(), key)
    results: list[str] = []
    barrier = threading.Barrier(16)

    def run():
        barrier.wait()
        results.append(verifier.verify(bearer(token)))

    threads = [threading.Thread(target=run) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["uid-123"] * 16
    assert server.count("/x509") == 1


# --- key outages: ours, not the caller's ----------------------------------------------------


def test_key_server_down_is_keys_unavailable(key, wall):
    server = KeyServer([key])
    url = server.x509_url
    server.close()
    source = RemoteKeySource(url, "x509", timeout=2)
    verifier = FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)
    with pytest.raises(KeysUnavailable):
        verifier.verify(bearer(mint(claims(), key)))


@pytest.mark.parametrize("status", [500, 503, 404, 302])
def test_key_server_error_status_is_keys_unavailable(key, server, mono, wall, status):
    server.status = status
    source = RemoteKeySource(server.x509_url, "x509", clock=mono)
    verifier = FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)
    with pytest.raises(KeysUnavailable):
        verifier.verify(bearer(mint(claims(), key)))


def test_empty_key_set_is_keys_unavailable(key, server, source, wall):
    server.set_keys([])
    verifier = FirebaseIdentityVerifier(PROJECT, keys=source, now=wall)
    with pytest.raises(KeysUnavailable):
        verifier.verify(bearer(mint(claims(), key)))


def test_failed_fetch_is_not_retried_for_5_seconds(key, server, verifier, mono):
    server.status = 500
    token = mint(claims(), key)
    for _ in range(10):
        with pytest.raises(KeysUnavailable):
            verifier.verify(bearer(token))
    assert server.count("/x509") == 1
    mono.t += 6
    server.status = 200
    assert verifier.verify(bearer(token)) == "uid-123"
    assert server.count("/x509") == 2


def test_stale_keys_serve_while_the_key_server_fails(key, server, verifier, mono):
    token = mint(claims(), key)
    verifier.verify(bearer(token))
    server.status = 503
    mono.t += 3601  # the set expired: the refetch fails, the stale set still verifies
    assert verifier.verify(bearer(token)) == "uid-123"
    assert server.count("/x509") == 2
    refused(verifier, bearer(mint(claims(aud="x"), key)))
    mono.t += 6 * 3600  # beyond stale-if-error
    with pytest.raises(KeysUnavailable):
        verifier.verify(bearer(token))


def test_keys_unavailable_is_identity_unavailable_not_unauthenticated():
    assert issubclass(KeysUnavailable, IdentityUnavailable)
    assert not issubclass(KeysUnavailable, Unauthenticated)


# --- wiring ---------------------------------------------------------------------------------


def test_default_keys_are_the_firebase_certificates():
    verifier = FirebaseIdentityVerifier(PROJECT)
    assert verifier._keys.url == FIREBASE_X509_URL
    assert verifier._keys.key_format == "x509"
    assert verifier.issuer == ISSUER


def test_project_id_is_required():
    with pytest.raises(ValueError):
        FirebaseIdentityVerifier("")


def test_importing_the_adapters_imports_no_jwt_or_http_library():
    code = (
        "import sys, shared.adapters.firebase_identity, shared.adapters.task_oidc;"
        "print(sorted(m for m in ('jwt', 'httpx', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="."
    )
    assert out.stdout.strip() == "[]"
