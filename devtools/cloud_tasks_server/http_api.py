"""The small HTTP side: the signing key as JWKS, an OpenID configuration, and health.

GET /jwks, /jwks.json, /.well-known/jwks.json   {"keys": [...]} (RS256 public key)
GET /.well-known/openid-configuration           issuer and jwks_uri
GET /healthz                                    {"status": "ok"}
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.cloud_tasks_server.oidc import ISSUER, Signer

JWKS_PATHS = ("/jwks", "/jwks.json", "/.well-known/jwks.json")


class HttpApi(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # SO_REUSEADDR only (TIME_WAIT); never SO_REUSEPORT

    def __init__(self, host: str, port: int, signer: Signer) -> None:
        self.signer = signer
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 1.0}, name="http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread:
            self.shutdown()
            self._thread.join(5)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: HttpApi
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path in JWKS_PATHS:
            self._json(200, self.server.signer.jwks())
        elif path == "/.well-known/openid-configuration":
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            self._json(
                200,
                {
                    "issuer": ISSUER,
                    "jwks_uri": f"http://{host}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                },
            )
        elif path == "/healthz":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=60")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass
