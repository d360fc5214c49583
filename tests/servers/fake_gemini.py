"""A local HTTP server speaking the parts of the Gemini API and Vertex AI that our adapters use.

The shapes below are the ones google-genai 3.4.0 sends and parses (see its models.py,
operations.py, _operations_converters.py and files.py):

Vertex AI (`genai.Client(vertexai=True, project=P, location=L)`, Bearer token):
  POST /v1beta1/projects/P/locations/L/publishers/google/models/M:predictLongRunning
       {"instances": [{"prompt"}], "parameters": {"sampleCount", "aspectRatio", ...}}
       → {"name": "projects/P/locations/L/publishers/google/models/M/operations/ID"}
  POST /v1beta1/projects/P/locations/L/publishers/google/models/M:fetchPredictOperation
       {"operationName": NAME} → {"name", "done", "metadata"?, "error"? | "response": {
       "videos": [{"bytesBase64Encoded", "mimeType"} | {"gcsUri", "mimeType"}],
       "raiMediaFilteredCount", "raiMediaFilteredReasons"}}
  POST /v1beta1/projects/P/locations/L/publishers/google/models/M:generateContent
Gemini Developer API (`genai.Client(api_key=K)`, header x-goog-api-key; SDK default version v1):
  POST /v1/models/M:predictLongRunning  (served, though google-genai 3.4.0 never sends it)
       → {"name": "models/M/operations/ID"}
  GET  /v1/models/M/operations/ID → {"name", "done", "response": {"generateVideoResponse": {
       "generatedSamples": [{"video": {"uri": "https://generativelanguage.googleapis.com/
       v1beta/files/FID:download?alt=media"}}], "raiMediaFilteredCount", ...}}}
  GET  /v1/files/FID:download?alt=media → the MP4 bytes
  POST /v1/models/M:generateContent {"contents", "generationConfig": {"responseModalities",
       "imageConfig": {"aspectRatio"}}} → {"candidates": [{"content": {"parts": [{"text",
       "thought"?} | {"inlineData": {"mimeType", "data"}, "thought"?}]}, "finishReason"}]} or
       {"promptFeedback": {"blockReason"}}
Any version prefix (v1, v1beta, v1beta1) is accepted; tests assert the one actually used.

Scripting: `server.video` (a VideoScript, copied into each operation when it starts),
`server.image` (an ImageScript), `server.fail(route, status, times)`, `server.delay(route, s)`
with route one of "start", "poll", "download", "image"; `add_operation()` creates an
operation directly (for Gemini API polling, which the SDK can do but not start).
Every request is kept in `server.requests` (method, path, query, lower-case headers, JSON).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-api-key-not-a-secret"
TOKEN = "test-access-token"  # noqa: S105 - a fake bearer token for the fake server
ROUTES = ("start", "poll", "download", "image")
GEMINI_FILES_URL = "https://generativelanguage.googleapis.com/v1beta/files"
DRAFT_LONG_SIDE = 32  # the draft image of a thought part; the answer's image has 96


def fake_mp4(payload: bytes = b"fake video frames") -> bytes:
    """Bytes shaped like an MP4: an `ftyp` box, then an `mdat` box with `payload`."""
    ftyp = b"ftyp" + b"isom" + (512).to_bytes(4, "big") + b"isomiso2avc1mp41"
    mdat = b"mdat" + payload
    return (len(ftyp) + 4).to_bytes(4, "big") + ftyp + (len(mdat) + 4).to_bytes(4, "big") + mdat


def png_bytes(
    aspect_ratio: str = "1:1", long_side: int = 96, mime_type: str = "image/png"
) -> bytes:
    """A real image (Pillow) whose size follows `aspect_ratio` ("W:H")."""
    from PIL import Image

    try:
        w, h = (float(x) for x in aspect_ratio.split(":"))
    except ValueError:
        w, h = 1.0, 1.0
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.new("RGB", size, (200, 60, 30))
    out = io.BytesIO()
    image.save(out, format={"image/jpeg": "JPEG", "image/webp": "WEBP"}.get(mime_type, "PNG"))
    return out.getvalue()


@dataclass
class VideoScript:
    """How an operation behaves: `pending_polls` not-done answers, then `outcome`."""

    pending_polls: int = 2
    outcome: str = "video"  # video | filtered | error | empty | gcs_uri
    video: bytes = field(default_factory=fake_mp4)
    mime_type: str = "video/mp4"
    filtered_reasons: list[str] = field(
        default_factory=lambda: [
            "Veo could not generate videos because the input prompt violates the policies."
        ]
    )
    error: dict[str, Any] = field(
        default_factory=lambda: {"code": 13, "message": "Video generation failed internally."}
    )
    progress_step: int | None = 30  # metadata.progressPercent grows by this; None: no metadata


@dataclass
class ImageScript:
    """What generateContent answers.

    image: one candidate, finish reason STOP, whose parts are the thought parts (`thoughts`),
      a text part (`text`, when set), then the image;
    stopped: one candidate ending with `finish_reason` and no image: the thought parts and the
      text part only (no `content` at all when there are none);
    no_candidates: an answer with no candidate and no prompt feedback;
    blocked_prompt: no candidate, `promptFeedback.blockReason` = `block_reason`.
    """

    outcome: str = "image"  # image | stopped | no_candidates | blocked_prompt
    mime_type: str = "image/png"
    text: str | None = None
    block_reason: str = "PROHIBITED_CONTENT"
    finish_reason: str = "STOP"
    # Thinking image models (e.g. gemini-3-pro-image) lead with `thought: true` parts: a
    # thought text and a draft image, before the answer.
    thoughts: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class _Operation:
    name: str
    api: str  # "mldev" | "vertex"
    model: str
    script: VideoScript
    polls: int = 0
    file_id: str | None = None


_MLDEV_VIDEO_RESPONSE_TYPE = (
    "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
)
_V = r"/(v1(?:alpha|beta1?)?)"
_VERTEX = re.compile(
    _V + r"/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+)"
    r":(predictLongRunning|fetchPredictOperation|generateContent)"
)
_MLDEV_MODEL = re.compile(_V + r"/models/([^/:]+):(predictLongRunning|generateContent)")
_MLDEV_OPERATION = re.compile(_V + r"/(models/[^/:]+/operations/[^/:]+)")
_DOWNLOAD = re.compile(_V + r"/files/([a-z0-9]+):download")


class FakeGemini:
    def __init__(self, *, api_key: str = API_KEY, token: str = TOKEN) -> None:
        self.api_key = api_key
        self.token = token
        self.video = VideoScript()
        self.image = ImageScript()
        self.requests: list[Recorded] = []
        self.operations: dict[str, _Operation] = {}
        self.files: dict[str, bytes] = {}
        self._failures: dict[str, list[tuple[int, str]]] = {r: [] for r in ROUTES}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- scripting -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.video = VideoScript()
            self.image = ImageScript()
            self.requests.clear()
            self.operations.clear()
            self.files.clear()
            for queue in self._failures.values():
                queue.clear()
            self._delays.clear()

    def fail(self, route: str, status: int, *, times: int = 1, message: str = "") -> None:
        """The next `times` requests of `route` answer HTTP `status` (a Google error body)."""
        assert route in ROUTES, route
        with self._lock:
            self._failures[route].extend([(status, message)] * times)

    def delay(self, route: str, seconds: float) -> None:
        """Requests of `route` wait `seconds` before answering (to exercise timeouts)."""
        assert route in ROUTES, route
        self._delays[route] = seconds

    def add_operation(
        self,
        script: VideoScript | None = None,
        *,
        api: str = "mldev",
        model: str = "veo-3.1-generate-preview",
        project: str = "demo-project",
        location: str = "us-central1",
    ) -> str:
        """Create an operation as if a start had happened; returns its name."""
        op_id = uuid.uuid4().hex[:12]
        if api == "vertex":
            name = (
                f"projects/{project}/locations/{location}/publishers/google/models/{model}"
                f"/operations/{uuid.UUID(int=uuid.uuid4().int)}"
            )
        else:
            name = f"models/{model}/operations/{op_id}"
        op = _Operation(name, api, model, copy.deepcopy(script or self.video))
        with self._lock:
            self.operations[name] = op
        return name

    def requests_to(self, route: str) -> list[Recorded]:
        return [r for r in list(self.requests) if _route_of(r.method, r.path) == route]

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        recorded = Recorded(
            handler.command,
            url.path,
            parse_qs(url.query),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            payload,
        )
        with self._lock:
            self.requests.append(recorded)
        try:
            status, content_type, out = self._answer(recorded)
        except Exception as exc:  # a bug in the fake: make it visible as a 500
            status, content_type, out = _error(500, f"fake server bug: {exc!r}")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(out)))
            handler.end_headers()
            handler.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    def _answer(self, req: Recorded) -> tuple[int, str, bytes]:
        route = _route_of(req.method, req.path)
        if route is None:
            return _error(404, f"no route for {req.method} {req.path}")
        if self._delays.get(route):
            time.sleep(self._delays[route])
        vertex = "/projects/" in req.path
        auth = self._check_auth(req, vertex)
        if auth is not None:
            return auth
        with self._lock:
            queue = self._failures[route]
            failure = queue.pop(0) if queue else None
        if failure is not None:
            return _error(failure[0], failure[1])
        if route == "start":
            return self._start(req)
        if route == "poll":
            return self._poll(req)
        if route == "download":
            match = _DOWNLOAD.fullmatch(req.path)
            data = self.files.get(match.group(2)) if match else None
            if data is None:
                return _error(404, "File not found.")
            return 200, "video/mp4", data
        return self._generate_content(req)

    def _check_auth(self, req: Recorded, vertex: bool) -> tuple[int, str, bytes] | None:
        if vertex:
            if req.headers.get("authorization") != f"Bearer {self.token}":
                return _error(401, "Request had invalid authentication credentials.")
        elif req.headers.get("x-goog-api-key") != self.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.")
        return None

    def _start(self, req: Recorded) -> tuple[int, str, bytes]:
        body = req.json or {}
        instances = body.get("instances") or [{}]
        if not instances[0].get("prompt"):
            return _error(400, "A prompt is required.")
        vertex = _VERTEX.fullmatch(req.path)
        if vertex:
            name = self.add_operation(
                api="vertex", model=vertex.group(4), project=vertex.group(2),
                location=vertex.group(3),
            )  # fmt: skip
        else:
            match = _MLDEV_MODEL.fullmatch(req.path)
            assert match is not None
            name = self.add_operation(api="mldev", model=match.group(2))
        return _json(200, {"name": name})

    def _poll(self, req: Recorded) -> tuple[int, str, bytes]:
        if "/projects/" in req.path:
            name = (req.json or {}).get("operationName", "")
            match = _VERTEX.fullmatch(req.path)
            resource = name.rpartition("/operations/")[0]
            if (
                match is None
                or not resource
                or not req.path.endswith(f"/{resource}:" + "fetchPredictOperation")
            ):
                return _error(400, f"operation {name!r} does not belong to {req.path}")
        else:
            match = _MLDEV_OPERATION.fullmatch(req.path)
            name = match.group(2) if match else ""
        with self._lock:
            op = self.operations.get(name)
            if op is None:
                return _error(404, f"Operation {name} not found.")
            op.polls += 1
            polls = op.polls
        script = op.script
        answer: dict[str, Any] = {"name": op.name}
        if polls <= script.pending_polls:
            answer["done"] = False
            if script.progress_step is not None:
                answer["metadata"] = {"progressPercent": min(99, script.progress_step * polls)}
            return _json(200, answer)
        answer["done"] = True
        if script.outcome == "error":
            answer["error"] = script.error
            return _json(200, answer)
        answer["response"] = self._video_response(op)
        return _json(200, answer)

    def _video_response(self, op: _Operation) -> dict[str, Any]:
        script = op.script
        result: dict[str, Any] = {}
        if script.outcome == "filtered":
            result["raiMediaFilteredCount"] = 1
            result["raiMediaFilteredReasons"] = list(script.filtered_reasons)
        elif script.outcome in ("video", "gcs_uri"):
            if op.api == "vertex":
                if script.outcome == "gcs_uri":
                    video = {"gcsUri": f"gs://veo-out/{uuid.uuid4().hex}/sample_0.mp4"}
                else:
                    video = {"bytesBase64Encoded": _b64(script.video)}
                video["mimeType"] = script.mime_type
                result["videos"] = [video]
            else:
                with self._lock:
                    if op.file_id is None:
                        op.file_id = uuid.uuid4().hex[:12]
                        self.files[op.file_id] = script.video
                uri = f"{GEMINI_FILES_URL}/{op.file_id}:download?alt=media"
                result["generatedSamples"] = [{"video": {"uri": uri}}]
        if op.api == "vertex":
            result["@type"] = (
                "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
            )
            return result
        return {
            "@type": _MLDEV_VIDEO_RESPONSE_TYPE,
            "generateVideoResponse": result,
        }

    def _generate_content(self, req: Recorded) -> tuple[int, str, bytes]:
        body = req.json or {}
        if not body.get("contents"):
            return _error(400, "contents is required.")
        config = body.get("generationConfig") or {}
        aspect_ratio = (config.get("imageConfig") or {}).get("aspectRatio") or "1:1"
        script = self.image
        usage = {"promptTokenCount": 7, "totalTokenCount": 7}
        if script.outcome == "blocked_prompt":
            return _json(
                200,
                {"promptFeedback": {"blockReason": script.block_reason}, "usageMetadata": usage},
            )
        answer: dict[str, Any] = {
            "usageMetadata": usage,
            "modelVersion": "fake",
            "responseId": uuid.uuid4().hex,
        }
        if script.outcome == "no_candidates":
            return _json(200, answer)
        parts: list[dict[str, Any]] = []
        if script.thoughts:
            draft = png_bytes(aspect_ratio, long_side=DRAFT_LONG_SIDE)
            parts += [
                {"text": "**Composing the scene**\nA fox, snow, soft light.", "thought": True},
                {"inlineData": {"mimeType": "image/png", "data": _b64(draft)}, "thought": True},
            ]
        if script.text is not None:
            parts.append({"text": script.text})
        if script.outcome == "image":
            data = png_bytes(aspect_ratio, mime_type=script.mime_type)
            parts.append({"inlineData": {"mimeType": script.mime_type, "data": _b64(data)}})
            candidate: dict[str, Any] = {"finishReason": "STOP", "index": 0}
        else:  # stopped
            candidate = {"finishReason": script.finish_reason, "index": 0}
        if parts:
            candidate["content"] = {"role": "model", "parts": parts}
        answer["candidates"] = [candidate]
        return _json(200, answer)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _route_of(method: str, path: str) -> str | None:
    vertex = _VERTEX.fullmatch(path)
    if vertex and method == "POST":
        return {"predictLongRunning": "start", "fetchPredictOperation": "poll"}.get(
            vertex.group(5), "image"
        )
    mldev = _MLDEV_MODEL.fullmatch(path)
    if mldev and method == "POST":
        return "start" if mldev.group(3) == "predictLongRunning" else "image"
    if method == "GET" and _MLDEV_OPERATION.fullmatch(path):
        return "poll"
    if method == "GET" and _DOWNLOAD.fullmatch(path):
        return "download"
    return None


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json; charset=UTF-8", json.dumps(body).encode()


def _error(status: int, message: str = "") -> tuple[int, str, bytes]:
    text = message or {429: "Resource has been exhausted (e.g. check quota)."}.get(
        status, f"fake error {status}"
    )
    return _json(
        status,
        {"error": {"code": status, "message": text, "status": _STATUS.get(status, "UNKNOWN")}},
    )
