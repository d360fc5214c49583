"""The web console's local server: serves web/ and its runtime configuration on 127.0.0.1.

    python -m devtools.web_server [--port 8090] [--api http://127.0.0.1:8080]

`/` is the user view (web/index.html), `/admin` the operator dashboard (web/admin.html),
`/config.json` the runtime configuration the pages read first: the api's URL and the dev
sign-in mode (production writes its own config.json beside the pages: docs/web-console.md).
The console is a different origin from the api, as in production, so CORS is exercised; the
api allows http://127.0.0.1:8090 and http://localhost:8090 by default (ALLOWED_ORIGINS).
Standard library only; nothing is cached by the browser, so an edit shows at the next reload.
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

ROOT = Path(__file__).resolve().parent.parent
WEB_ROOT = ROOT / "web"
DEFAULT_PORT = 8090
PAGES = {"/": "/index.html", "/admin": "/admin.html", "/admin/": "/admin.html"}
# Build inputs, never pages: refused even though they sit in web/.
HIDDEN = ("node_modules", "package.json", "package-lock.json", "vendor.mjs")


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
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    config: dict[str, Any]
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
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
