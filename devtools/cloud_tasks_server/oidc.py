"""The local OIDC signer: an RSA key kept in the state db, RS256 tokens, and its JWKS.

Tokens look like the ones Google mints for a Cloud Tasks OIDC task: issuer
`https://accounts.google.com`, the audience of the task (else its URL), the service
account as `email` and `sub`, `email_verified`, one hour of validity, a `kid` header that
names the key in the JWKS served on the HTTP port.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://accounts.google.com"
TOKEN_SECONDS = 3600
# A cached token is reused while it has at least this long to live.
_REUSE_MARGIN = 600


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(public: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    """An RSA public key as a JWK of an RS256 signing key (a JWKS entry)."""
    numbers = public.public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": _b64uint(numbers.n),
        "e": _b64uint(numbers.e),
    }


def new_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Signer:
    def __init__(self, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._key = key
        public = self._key.public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(der).hexdigest()[:40]
        self._jwk = rsa_jwk(public, self.kid)
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [dict(self._jwk)]}

    def token(self, service_account: str, audience: str) -> str:
        """A signed ID token for the service account; reused while it is fresh enough."""
        now = time.time()
        key = (service_account, audience)
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] - now > _REUSE_MARGIN:
                return cached[1]
        iat = int(now)
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "azp": service_account,
            "sub": service_account,
            "email": service_account,
            "email_verified": True,
            "iat": iat,
            "exp": iat + TOKEN_SECONDS,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[key] = (iat + TOKEN_SECONDS, token)
        return token
