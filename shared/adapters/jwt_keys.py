"""Public keys for RS256 tokens, by `kid`, fetched from Google and cached.

Two published forms:

* a JWKS (`{"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]}`): Google's OIDC keys
  at GOOGLE_OIDC_JWKS_URL, and the local Cloud Tasks server's at `http://127.0.0.1:8124/jwks`;
* an x509 certificate map (`{kid: "-----BEGIN CERTIFICATE-----..."}`): the Firebase ID token
  keys at FIREBASE_X509_URL.

`RemoteKeySource(url, "jwks" | "x509")` (or `JwksKeys(url)`, `X509Keys(url)`): `.get(kid)`
returns the public key, or None for a kid the key set does not hold. The set is cached for
the response's `Cache-Control: max-age` (less `Age`; one hour when absent), and fetched again
early only for an unknown kid (key rotation), at most once per `refetch_interval` (30 s), so
a burst of forged tokens with made-up kids cannot hammer the URL. One thread fetches at a
time; readers of a fresh set never wait for it.

A key set that cannot be fetched is our outage, not the caller's fault: `get` raises
`KeysUnavailable` (a `shared.domain.errors.IdentityUnavailable`), which callers map to 503,
never to 401. While Google is unreachable, keys of an expired set are still served for
`stale_if_error` (6 h), and a failed fetch is not retried for `failure_backoff` (5 s), so
requests do not each wait for a timeout.

`bearer_token`, `verified_claims` and `check_times` are the steps both verifiers share.

httpx, PyJWT and cryptography are imported on the first fetch, not with this module.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from math import inf
from typing import Any, Literal, Protocol

from shared.domain.errors import IdentityUnavailable, Unauthenticated

GOOGLE_OIDC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
FIREBASE_X509_URL = (
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
)

KeyFormat = Literal["jwks", "x509"]

_log = logging.getLogger("creator.identity.keys")

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_MAX_BODY = 256 * 1024


class KeysUnavailable(IdentityUnavailable):
    """The signing keys could not be fetched or parsed: our outage. Map it to 503, not 401.

    An IdentityUnavailable, which the api and worker handlers already answer with 503."""


class KeySource(Protocol):
    def get(self, kid: str) -> Any | None:
        """The public key (an RSAPublicKey) for `kid`, or None when the key set has none.

        Raises KeysUnavailable when the key set cannot be fetched."""


class _KeySet:
    """One fetched key set; replaced whole, never changed."""

    __slots__ = ("expires_at", "keys")

    def __init__(self, keys: Mapping[str, Any] | None = None, expires_at: float = -inf) -> None:
        self.keys: Mapping[str, Any] = keys or {}
        self.expires_at = expires_at  # monotonic clock


class RemoteKeySource:
    """A thread-safe cached key set from one URL (see the module docstring)."""

    def __init__(
        self,
        url: str,
        key_format: KeyFormat,
        *,
        timeout: float = 5.0,
        default_max_age: float = 3600.0,
        min_max_age: float = 30.0,
        max_max_age: float = 86400.0,
        refetch_interval: float = 30.0,
        stale_if_error: float = 6 * 3600.0,
        failure_backoff: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if key_format not in ("jwks", "x509"):
            raise ValueError(f"unknown key format {key_format!r}")
        self.url = url
        self.key_format: KeyFormat = key_format
        self._timeout = timeout
        self._default_max_age = default_max_age
        self._min_max_age = min_max_age
        self._max_max_age = max_max_age
        self._refetch_interval = refetch_interval
        self._stale_if_error = stale_if_error
        self._failure_backoff = failure_backoff
        self._clock = clock
        self._set = _KeySet()  # replaced whole, so readers need no lock
        self._last_attempt = -inf
        self._last_failure = -inf
        self._fetch_lock = threading.Lock()
        self.fetches = 0  # attempts, successful or not (for tests and metrics)

    def get(self, kid: str) -> Any | None:
        ks = self._set
        now = self._clock()
        if now < ks.expires_at and (kid in ks.keys or not self._may_refetch(now)):
            return ks.keys.get(kid)
        with self._fetch_lock:
            # Another thread may have fetched while this one waited.
            ks = self._set
            now = self._clock()
            fresh = now < ks.expires_at
            if fresh and (kid in ks.keys or not self._may_refetch(now)):
                return ks.keys.get(kid)
            if now - self._last_failure < self._failure_backoff:
                return self._stale_or_raise(ks, kid, now, fresh)
            self._last_attempt = now
            self.fetches += 1
            try:
                keys, max_age = self._fetch()
            except KeysUnavailable as exc:
                self._last_failure = self._clock()
                _log.warning("identity keys fetch failed url=%s error=%s", self.url, exc)
                return self._stale_or_raise(ks, kid, now, fresh)
            self._set = _KeySet(keys, self._clock() + max_age)
            return keys.get(kid)

    def _may_refetch(self, now: float) -> bool:
        return now - self._last_attempt >= self._refetch_interval

    def _stale_or_raise(self, ks: _KeySet, kid: str, now: float, fresh: bool) -> Any | None:
        """After a failed fetch: a key of a fresh or recently expired set, else the outage."""
        usable = fresh or now < ks.expires_at + self._stale_if_error
        if usable and kid in ks.keys:
            return ks.keys[kid]
        raise KeysUnavailable("identity keys unavailable")

    def _fetch(self) -> tuple[dict[str, Any], float]:
        import httpx

        try:
            response = httpx.get(self.url, timeout=self._timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"{type(exc).__name__}") from exc
        if response.status_code != 200:
            raise KeysUnavailable(f"HTTP {response.status_code}")
        if len(response.content) > _MAX_BODY:
            raise KeysUnavailable("key set too large")
        try:
            document = json.loads(response.content)
            keys = parse_jwks(document) if self.key_format == "jwks" else parse_x509(document)
        except (ValueError, TypeError) as exc:
            raise KeysUnavailable(f"unreadable key set: {type(exc).__name__}") from exc
        if not keys:
            raise KeysUnavailable("empty key set")
        return keys, self._max_age(response.headers)

    def _max_age(self, headers: Mapping[str, str]) -> float:
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        if match is None:
            return self._default_max_age
        age = headers.get("age", "0").strip()
        ttl = int(match.group(1)) - (int(age) if age.isdigit() else 0)
        return float(min(max(ttl, self._min_max_age), self._max_max_age))


def parse_jwks(document: Any) -> dict[str, Any]:
    """RSA signing keys of a JWKS document, by kid. Raises ValueError on a malformed one."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Any] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            key = RSAAlgorithm.from_jwk(jwk)
        except Exception:  # one bad key must not hide the others
            _log.warning("identity keys: skipping unreadable JWK kid=%s", kid[:64])
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys[kid] = key
    return keys


def parse_x509(document: Any) -> dict[str, Any]:
    """RSA public keys of a `{kid: PEM certificate}` map. Raises ValueError on a malformed one."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(document, dict):
        raise ValueError("not a certificate map")
    keys: dict[str, Any] = {}
    for kid, pem in document.items():
        if not isinstance(kid, str) or not kid or not isinstance(pem, str):
            continue
        try:
            key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        except ValueError:
            _log.warning("identity keys: skipping unreadable certificate kid=%s", kid[:64])
            continue
        if isinstance(key, rsa.RSAPublicKey):
            keys[kid] = key
    return keys


class JwksKeys(RemoteKeySource):
    """Keys published as a JWKS (Google OIDC, the local Cloud Tasks server)."""

    def __init__(self, url: str = GOOGLE_OIDC_JWKS_URL, **options: Any) -> None:
        super().__init__(url, "jwks", **options)


class X509Keys(RemoteKeySource):
    """Keys published as a `{kid: PEM certificate}` map (Firebase ID tokens)."""

    def __init__(self, url: str = FIREBASE_X509_URL, **options: Any) -> None:
        super().__init__(url, "x509", **options)


def google_oidc_keys() -> RemoteKeySource:
    """Google's OIDC signing keys (the ones that sign Cloud Tasks OIDC tokens)."""
    return JwksKeys(GOOGLE_OIDC_JWKS_URL)


def firebase_keys() -> RemoteKeySource:
    """The keys that sign Firebase Auth ID tokens."""
    return X509Keys(FIREBASE_X509_URL)


# --- verifying one RS256 token (shared by the Firebase and the Cloud Tasks verifiers) ---

MISSING_HEADER = "Missing Authorization header"
EXPECTED_BEARER = "Expected a Bearer token"
INVALID_TOKEN = "Invalid or expired identity token"  # noqa: S105 - a message, not a secret
_MAX_TOKEN = 16 * 1024


class InvalidToken(Exception):
    """Why a token was refused: for a debug log line only, never for the caller."""


def bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>`. Raises Unauthenticated with a safe message."""
    if authorization is None or not authorization.strip():
        raise Unauthenticated(MISSING_HEADER)
    parts = authorization.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        raise Unauthenticated(EXPECTED_BEARER)
    return parts[1].strip()


def verified_claims(token: str, keys: KeySource) -> dict[str, Any]:
    """The claims of an RS256 token whose signature verifies with the key its `kid` names.

    Checks the signature only, no claim. Raises InvalidToken, or KeysUnavailable when the
    key set cannot be fetched (an outage: 503). Nothing is fetched for a token that is not
    even shaped like an RS256 JWT with a kid.
    """
    import jwt

    if len(token) > _MAX_TOKEN:
        raise InvalidToken("token too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"unreadable header: {type(exc).__name__}") from None
    alg = header.get("alg")
    if alg != "RS256":
        raise InvalidToken(f"algorithm {str(alg)[:16]!r} is not RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise InvalidToken("no usable kid")
    key = keys.get(kid)
    if key is None:
        raise InvalidToken("unknown kid")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            options={
                "verify_signature": True,
                "verify_exp": False,  # the callers check times with their own clock
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"does not verify: {type(exc).__name__}") from None
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    return claims


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} missing or not a number")
    return float(value)


def check_times(
    claims: Mapping[str, Any],
    now: float,
    skew: float,
    *,
    issued: tuple[str, ...] = ("iat",),
) -> None:
    """`exp` in the future, the `issued` claims (required) and any `nbf` not in the future,
    all with `skew` seconds of tolerance. Raises InvalidToken."""
    if _number(claims, "exp") <= now - skew:
        raise InvalidToken("expired")
    for name in issued:
        if _number(claims, name) > now + skew:
            raise InvalidToken(f"{name} in the future")
    if "nbf" in claims and _number(claims, "nbf") > now + skew:
        raise InvalidToken("not valid yet")
