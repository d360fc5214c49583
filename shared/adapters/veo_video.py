"""The VideoGenerator port on Google Veo, through google-genai.

`start` submits one long-running generation and returns its operation name at once; `poll`
reads the operation and, when done, returns the video bytes (or a stable error code).

Backends (google-genai 3.4.0):
- Vertex AI (`vertex=True`): `models.generate_videos` → POST
  `v1beta1/projects/P/locations/L/publishers/google/models/M:predictLongRunning`; polling →
  POST `.../models/M:fetchPredictOperation` with `{"operationName": ...}`. With no
  `output_gcs_uri` Veo returns the MP4 inline (`bytesBase64Encoded`), which is what we use.
- Gemini Developer API: google-genai 3.4.0 refuses `models.generate_videos` outside Vertex AI
  ("only supported in Gemini Enterprise Agent Platform mode"), so `start` fails permanently with
  `generator_misconfigured`. Polling such operations still works (GET `v1/{name}`, then
  `files.download` of the video's URI) and is kept for when the SDK supports it again.

`google.genai` is imported inside the methods only: importing this module stays cheap.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from shared.adapters.genai_client import shorten, to_generation_error
from shared.adapters.lazy import Lazy
from shared.config import DEFAULT_VIDEO_MODEL
from shared.domain.errors import GenerationError
from shared.ports import Media, OperationStatus, VideoRoute, VideoSpec

_EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"}
_LOCATION = re.compile(r"(?:^|/)locations/([^/]+)/")
_PROGRESS_KEYS = ("progressPercent", "progress_percent", "progressPercentage", "progress")


class VeoVideoGenerator:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        model: str = DEFAULT_VIDEO_MODEL,
        *,
        vertex: bool = False,
        generate_audio: bool | None = True,
        location: str | None = None,
        client_for_location: Callable[[str], Callable[[], Any]] | None = None,
    ) -> None:
        """`client_factory` returns a google-genai Client (see genai_client_factory); it is
        called on first use only. `vertex` says which backend that client speaks.
        `generate_audio` is sent on Vertex AI only (None: leave it to the model's default).
        `location` is that client's location; `client_for_location` makes a factory for
        another one (failover to VEO_LOCATIONS: a start on a route at another location, and
        the polls of its operation, whose name carries its location, go to that client)."""
        self.model = model
        self.vertex = vertex
        self.generate_audio = generate_audio
        self.location = location
        self._client: Lazy[Any] = Lazy(client_factory)
        self._client_for_location = client_for_location
        self._clients: dict[str, Lazy[Any]] = {}
        self._clients_lock = threading.Lock()
        self._checked = False
        self._check_lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------

    def start(self, spec: VideoSpec, route: VideoRoute | None = None) -> str:
        from google.genai import types

        client = self._get_client(route.location if route else None)
        try:
            config = types.GenerateVideosConfig(
                number_of_videos=1,
                aspect_ratio=spec.aspect_ratio,
                duration_seconds=int(spec.duration_seconds),
                resolution=spec.resolution,
                negative_prompt=spec.negative_prompt or None,
                generate_audio=self.generate_audio if self.vertex else None,
            )
            operation = client.models.generate_videos(
                model=route.model if route else self.model,
                source=types.GenerateVideosSource(prompt=spec.prompt),
                config=config,
            )
        except Exception as exc:
            raise to_generation_error(exc, what="veo start") from exc
        if not operation.name:
            raise GenerationError(
                "generator_bad_response", "veo start: no operation name", transient=True
            )
        return str(operation.name)

    def poll(self, operation_name: str) -> OperationStatus:
        from google.genai import types

        if not operation_name or "/operations/" not in operation_name:
            raise GenerationError(
                "operation_not_found", f"not a Veo operation: {operation_name!r}"[:300],
                transient=False,
            )  # fmt: skip
        client = self._get_client(_location_of(operation_name))
        try:
            operation = client.operations.get(
                types.GenerateVideosOperation.model_validate({"name": operation_name})
            )
        except Exception as exc:
            raise to_generation_error(
                exc, what="veo poll", not_found_code="operation_not_found"
            ) from exc

        if not operation.done:
            return OperationStatus(done=False, progress=_progress(operation.metadata))
        if operation.error:
            return _failed("generation_failed", _error_text(operation.error))

        response = operation.response or operation.result
        videos = [v.video for v in (response.generated_videos or []) if v.video] if response else []
        filtered = (response.rai_media_filtered_count or 0) if response else 0
        reasons = list(response.rai_media_filtered_reasons or []) if response else []
        if filtered > 0 or (not videos and reasons):
            text = "; ".join(reasons) or f"{filtered} video(s) filtered by the safety filter"
            return _failed("content_filtered", text)
        if not videos:
            return _failed("generation_failed", "the operation finished without a video")

        video = videos[0]
        if not video.video_bytes and not video.uri:
            return _failed("generation_failed", "the video came back with neither bytes nor a URI")
        data = video.video_bytes or self._fetch(client, video)
        mime_type = (video.mime_type or "video/mp4").split(";")[0].strip().lower()
        extension = _EXTENSIONS.get(mime_type, "mp4")
        return OperationStatus(done=True, progress=100, media=Media(data, mime_type, extension))

    # -- internals -------------------------------------------------------------------------

    def _lazy_client(self, location: str | None) -> Lazy[Any]:
        """The client for `location`: the default one for its own location, None, or when no
        other can be made."""
        if location is None or location == self.location or self._client_for_location is None:
            return self._client
        with self._clients_lock:
            if location not in self._clients:
                self._clients[location] = Lazy(self._client_for_location(location))
            return self._clients[location]

    def _get_client(self, location: str | None = None) -> Any:
        try:
            client = self._lazy_client(location).get()
        except Exception as exc:
            raise to_generation_error(exc, what="veo client") from exc
        if not self._checked:
            with self._check_lock:
                actual = getattr(client, "vertexai", self.vertex)
                if isinstance(actual, bool) and actual != self.vertex:
                    raise GenerationError(
                        "generator_misconfigured",
                        f"VeoVideoGenerator(vertex={self.vertex}) got a client with "
                        f"vertexai={actual}",
                        transient=False,
                    )
                self._checked = True
        return client

    def _fetch(self, client: Any, video: Any) -> bytes:
        """The bytes of a video that came back as a URI only."""
        uri = video.uri
        if self.vertex:
            raise GenerationError(
                "unsupported_output",
                shorten(
                    f"Veo wrote the video to {uri}; this adapter reads inline bytes only "
                    "(no Cloud Storage client is configured; do not set output_gcs_uri)"
                ),
                transient=False,
            )
        try:
            data = client.files.download(file=video)
        except Exception as exc:
            raise to_generation_error(
                exc, what="veo download", not_found_code="output_expired"
            ) from exc
        if not data:
            raise GenerationError(
                "generator_bad_response", "veo download: empty file", transient=True
            )
        return bytes(data)


def _location_of(operation_name: str) -> str | None:
    """The location in a Vertex AI operation name (`projects/P/locations/L/...`), or None."""
    match = _LOCATION.search(operation_name)
    return match.group(1) if match else None


def _failed(code: str, message: str) -> OperationStatus:
    return OperationStatus(done=True, progress=100, error_code=code, error_message=shorten(message))


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or ""
        code = error.get("code")
        return f"{message} (code {code})" if code is not None and message else message or str(error)
    return str(error)


def _progress(metadata: Any) -> int:
    """A 0..99 progress from the operation's metadata, when it carries one."""
    if not isinstance(metadata, dict):
        return 0
    for key in _PROGRESS_KEYS:
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0, min(99, int(value)))
    return 0
