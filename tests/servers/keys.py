"""Test signing keys, and a tiny HTTP server that publishes them like Google does.

* `TestKey.generate()`: an RSA key pair with a kid and a self-signed x509 certificate;
* `KeyServer([keys])`: 127.0.0.1 on a free port, serving the keys as the Firebase x509 map
  (`.x509_url`, `{kid: PEM}`) and as a Google JWKS (`.jwks_url`), with
  `Cache-Control: public, max-age=<max_age>`; it counts the fetches of each path, can swap
  its keys (rotation) and answer errors (`.status`);
* `mint(claims, key, ...)`: a signed token with any claims and headers; `unsigned()` and
  `forge_hs256()` for the forgeries PyJWT refuses to make.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devtools.cloud_tasks_server.oidc import rsa_jwk


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # not a pytest test class

    kid: str
    private_key: rsa.RSAPrivateKey
    cert_pem: str

    @classmethod
    def generate(cls, kid: str | None = None, bits: int = 2048) -> TestKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=14))
            .sign(private_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return cls(kid or uuid.uuid4().hex, private_key, pem)

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, str]:
        return rsa_jwk(self.private_key.public_key(), self.kid)

    def sign(self, claims: dict[str, Any], **kwargs: Any) -> str:
        return mint(claims, self, **kwargs)


def mint(
    claims: dict[str, Any],
    key: TestKey,
    *,
    kid: str | None = None,
    headers: dict[str, Any] | None = None,
    algorithm: str = "RS256",
) -> str:
    """A token signed by `key`; its header names `kid` (default: the key's own). The claims
    are sent as given, even those PyJWT's encoder refuses (e.g. a list `iss`)."""
    header = {"typ": "JWT", "kid": key.kid if kid is None else kid, **(headers or {})}
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return jwt.api_jws.encode(payload, key.private_key, algorithm=algorithm, headers=header)


def unsigned(claims: dict[str, Any], *, kid: str | None = None) -> str:
    """An `alg: none` token: header.payload. with an empty signature."""
    header = {"alg": "none", "typ": "JWT", **({"kid": kid} if kid else {})}
    return ".".join(
        [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), ""]
    )


def forge_hs256(claims: dict[str, Any], secret: bytes, *, kid: str | None = None) -> str:
    """An HS256 token MACed with `secret` (e.g. the public key PEM: the classic confusion)."""
    header = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = (
        _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(mac)


class KeyServer:
    """Publishes keys at `/x509` (Firebase form) and `/jwks` (Google form). A context manager."""

    def __init__(self, keys: list[TestKey], *, max_age: int | None = 3600) -> None:
        self.keys = list(keys)
        self.max_age = max_age  # None: no Cache-Control header
        self.status = 200
        self.fetches: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.fetches[path] += 1
                    keys, status, max_age = list(server.keys), server.status, server.max_age
                if path == "/x509":
                    body: Any = {k.kid: k.cert_pem for k in keys}
                elif path == "/jwks":
                    body = {"keys": [k.jwk() for k in keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode() if status == 200 else b'{"error": "down"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                if max_age is not None:
                    self.send_header("Cache-Control", f"public, max-age={max_age}, no-transform")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.x509_url = self.base_url + "/x509"
        self.jwks_url = self.base_url + "/jwks"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def set_keys(self, keys: list[TestKey]) -> None:
        with self._lock:
            self.keys = list(keys)

    def count(self, path: str) -> int:
        with self._lock:
            return self.fetches[path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> KeyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
