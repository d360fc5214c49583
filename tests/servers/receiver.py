"""A worker stand-in that records what a Cloud Tasks server delivers and answers as told."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Delivery:
    at: float  # time.time() when the request arrived
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver(ThreadingHTTPServer):
    """A worker stand-in on 127.0.0.1:0. Per path: the deliveries, the requests in flight
    (and their maximum), and scripted replies (the last one repeats)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: dict[str, list[Delivery]] = {}
        self.scripts: dict[str, list[Reply]] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                reply = receiver._arrive(
                    Delivery(arrived, self.command, path, dict(self.headers), body)
                )
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the server gave up on us (dispatch deadline)
                finally:
                    receiver._leave(path)

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815

            def log_message(self, *_args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def _arrive(self, delivery: Delivery) -> Reply:
        with self.lock:
            path = delivery.path
            self.deliveries.setdefault(path, []).append(delivery)
            self.in_flight[path] = self.in_flight.get(path, 0) + 1
            self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
            script = self.scripts.get(path) or [Reply()]
            return script.pop(0) if len(script) > 1 else script[0]

    def _leave(self, path: str) -> None:
        with self.lock:
            self.in_flight[path] -= 1

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def script(self, path: str, *replies: Reply) -> str:
        """Answer requests to path with these replies in turn; returns the path's URL."""
        with self.lock:
            self.scripts[path] = list(replies)
        return self.url(path)

    def got(self, path: str) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries.get(path, []))
