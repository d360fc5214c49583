"""The web console's local server: serves web/ and its runtime configuration on 127.0.0.1.

    python -m devtools.web_server [--port 8090] [--api http://127.0.0.1:8080]

`/` is the user view (web/index.html), `/admin` the operator dashboard (web/admin.html),
`/config.json` the runtime configuration the pages read first: the api's URL and the dev
sign-in mode (production writes its own config.json beside the pages: docs/web-console.md).
The console is a different origin from the api, as in production, so CORS is exercised; the
api allows http://127.0.0.1:8090 and http://localhost:8090 by default (ALLOWED_ORIGINS).
Standard library only; nothing is cached by the browser, so an edit shows at the next reload.

Every answer carries a strict Content-Security-Policy (`content_security_policy`): the
console's own files only (no inline script or style), calls to the api's origin, media
from the api's origin (local media), and `frame-ancestors 'none'`: no other site can frame
the console or the operator dashboard. Production sends the same policy from its load
balancer (docs/web-console.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.processes import serve_until_stopped

ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = ROOT / "web"
DEFAULT_PORT = 8090
PAGES = {"/": "/index.html", "/admin": "/admin.html", "/admin/": "/admin.html"}
# Build inputs, never pages: refused even though they sit in web/.
HIDDEN = ("node_modules", "package.json", "package-lock.json", "vendor.mjs")
# What Firebase Authentication's web SDK reaches in `authMode: firebase` (sign-in calls, and
# the popup's helper script and iframe on the project's authDomain).
FIREBASE_CONNECT = ("https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com")
FIREBASE_SCRIPT = ("https://apis.google.com",)


def content_security_policy(config: dict[str, Any], media: tuple[str, ...] = ()) -> str:
    """The console's CSP for its runtime `config`: its own files, the api's origin for calls
    and media (plus `media`, e.g. R2's domain), Firebase's hosts in firebase mode only; no
    inline script or style, no plugin, and never inside a frame."""
    api = _origin(config["apiBaseUrl"])
    script, connect, frames = ["'self'"], ["'self'", api], ["'none'"]
    if config.get("authMode") == "firebase":
        script += FIREBASE_SCRIPT
        connect += FIREBASE_CONNECT
        domain = (config.get("firebase") or {}).get("authDomain")
        frames = [f"https://{domain}"] if domain else frames
    shown = " ".join(["'self'", api, *media])
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(script)}",
            "style-src 'self'",
            f"img-src {shown} data: blob:",
            f"media-src {shown} blob:",
            f"connect-src {' '.join(connect)}",
            f"frame-src {' '.join(frames)}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def runtime_config(api_url: str, **overrides: Any) -> dict[str, Any]:
    """The config.json of a local console: dev identities against the local api."""
    return {
        "apiBaseUrl": api_url.rstrip("/"),
        "authMode": "dev",
        "firebase": None,
        "pollSeconds": 2,
        "dashboardRefreshSeconds": 5,
        "queueHealth": {"intervalSeconds": 5, "retrySeconds": 2, "maxIntervalSeconds": 10},
        **overrides,
    }


class _Handler(SimpleHTTPRequestHandler):
    server: _Server
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".png": "image/png",
    }

    def __init__(self, request: Any, client_address: Any, server: _Server) -> None:
        super().__init__(request, client_address, server, directory=str(server.root))

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self._route():
            super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        if self._route():
            super().do_HEAD()

    def _route(self) -> bool:
        """Answer config.json and refusals here; map page routes; True to serve a file."""
        path = urlsplit(self.path).path
        if path == "/config.json":
            body = json.dumps(self.server.config, indent=2).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return False
        parts = [part for part in path.split("/") if part]
        if any(part.startswith(".") or part in HIDDEN for part in parts):
            self.send_error(HTTPStatus.NOT_FOUND)
            return False
        self.path = PAGES.get(path, path)
        return True

    def list_directory(self, path: str | os.PathLike[str]) -> None:  # no listings
        self.send_error(HTTPStatus.NOT_FOUND)
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", self.server.csp)
        self.send_header("X-Frame-Options", "DENY")  # frame-ancestors for older browsers
        self.send_header("Referrer-Policy", "strict-origin-when-cross-origin")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    config: dict[str, Any]
    csp: str
    log: Callable[[str], None] | None


class WebServer:
    """The console on http://127.0.0.1:<port>/, in a thread of the calling process."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        api_url: str = "http://127.0.0.1:8080",
        *,
        root: Path = WEB_ROOT,
        config: dict[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.port = port
        self.root = Path(root)
        self.config = runtime_config(api_url, **(config or {}))
        self.log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        server = _Server(("127.0.0.1", self.port), _Handler)  # OSError when the port is taken
        server.root, server.config, server.log = self.root, self.config, self.log
        server.csp = content_security_policy(self.config)
        self.port = server.server_address[1]  # port 0: the one the system chose
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="web", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--api", default=os.environ.get("API_URL", "http://127.0.0.1:8080"), help="the api's URL"
    )
    args = parser.parse_args(argv)
    server = WebServer(args.port, args.api, log=lambda line: print(line, flush=True))
    try:
        server.start()
    except OSError as exc:
        print(f"web server: port {args.port} on 127.0.0.1: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"web console on {server.url}/ (operator dashboard {server.url}/admin), api {args.api}")
    return serve_until_stopped(server.stop)


if __name__ == "__main__":
    sys.exit(main())
