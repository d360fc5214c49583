"""A local stand-in for Veo: long-running operations kept as JSON files, real small MP4s.

`start` decides the outcome at once and writes `root/operations/<id>.json`; `poll` reports
progress until `done_at`, then renders the video (once, cached in `root/videos/<id>.mp4`).
Markers in the prompt script the outcome: `[fail]`, `[filtered]`, `[transient]` (the first
poll raises a transient error) and `[start-error]` (start raises a transient error).

`quota_per_minute` (LOCAL_VIDEO_QUOTA_PER_MINUTE, off by default) plays Vertex AI's quota per
project and base model: a start beyond that many in the last 60 s is refused the way Veo
refuses it (429 RESOURCE_EXHAUSTED: `generator_rate_limited`, transient, not started). Each
route (a model at a location: VIDEO_MODEL, VEO_FALLBACK_MODELS, VEO_LOCATIONS) has a quota
of its own, so failover to a fallback can be seen locally. The
window is kept in a file under `root` with an exclusive lock, so every worker process of
the local stack shares it, as every instance shares the project's quota.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.adapters import local_drawing
from shared.adapters.local_media import atomic_write
from shared.domain.errors import GenerationError
from shared.ports import Media, OperationStatus, VideoRoute, VideoSpec

PREFIX = "local-operations/"
_NAME = re.compile(re.escape(PREFIX) + r"([0-9a-f]{32})")
FILTERED_MESSAGE = "The prompt was blocked by the safety filter (local simulation)"
FAILED_MESSAGE = "The video generation failed (local simulation)"


class LocalVideoGenerator:
    def __init__(
        self,
        root: Path,
        *,
        latency_seconds: float = 5.0,
        failure_rate: float = 0.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        quota_per_minute: int = 0,
        model: str = "local-veo",
    ) -> None:
        self.root = Path(root)
        self.latency_seconds = max(0.0, float(latency_seconds))
        self.failure_rate = failure_rate
        self.clock = clock
        self.rng = rng or random.Random()
        self._render_lock = threading.Lock()
        self.quota_per_minute = max(0, int(quota_per_minute))
        self.model = model

    @property
    def operations_dir(self) -> Path:
        return self.root / "operations"

    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    def start(self, spec: VideoSpec, route: VideoRoute | None = None) -> str:
        prompt = spec.prompt
        if "[start-error]" in prompt:
            raise GenerationError(
                "generator_unavailable",
                "simulated start failure",
                transient=True,
                not_started=True,
            )
        if self.quota_per_minute:
            self._take_quota(route)
        if "[fail]" in prompt:
            outcome = "failed"
        elif "[filtered]" in prompt:
            outcome = "filtered"
        elif self.failure_rate > 0 and self.rng.random() < self.failure_rate:
            outcome = "failed"
        else:
            outcome = "video"
        op_id = uuid.uuid4().hex
        started_at = float(self.clock())
        record = {
            "name": PREFIX + op_id,
            "prompt": prompt,
            "parameters": {
                "aspectRatio": spec.aspect_ratio,
                "durationSeconds": spec.duration_seconds,
                "resolution": spec.resolution,
                "negativePrompt": spec.negative_prompt,
            },
            "started_at": started_at,
            "model": route.model if route else self.model,
            "location": route.location if route else None,
            "done_at": started_at + self.latency_seconds,
            "outcome": outcome,
            "transient": "[transient]" in prompt,
            "transient_raised_at": None,
        }
        try:
            self._write(op_id, record)
        except OSError as exc:
            raise GenerationError("generator_unavailable", str(exc), transient=True) from exc
        return str(record["name"])

    def _take_quota(self, route: VideoRoute | None) -> None:
        """Count this start in its model's 60 s window (per location: a route has a quota of
        its own), or refuse it as Vertex AI does."""
        model = route.model if route else self.model
        key = f"{route.model}@{route.location}" if route else self.model
        path = self.root / f"quota-{re.sub(r'[^A-Za-z0-9@._-]', '_', key)}.json"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with path.open("a+") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                try:
                    starts = [float(t) for t in json.loads(f.read() or "[]")]
                except ValueError:
                    starts = []
                now = float(self.clock())
                starts = [t for t in starts if now - t < 60.0]
                if len(starts) >= self.quota_per_minute:
                    raise GenerationError(
                        "generator_rate_limited",
                        f"429 RESOURCE_EXHAUSTED: quota of {self.quota_per_minute} requests per "
                        f"minute for base model {model} exceeded (local simulation)",
                        transient=True,
                        not_started=True,
                    )
                starts.append(now)
                f.seek(0)
                f.truncate()
                f.write(json.dumps(starts))
        except OSError as exc:
            raise GenerationError(
                "generator_unavailable", str(exc), transient=True, not_started=True
            ) from exc

    def poll(self, operation_name: str) -> OperationStatus:
        op_id, record = self._read(operation_name)
        now = float(self.clock())
        if record.get("transient") and record.get("transient_raised_at") is None:
            record["transient_raised_at"] = now
            self._write(op_id, record)
            raise GenerationError(
                "generator_unavailable", "simulated transient failure", transient=True
            )
        started_at, done_at = float(record["started_at"]), float(record["done_at"])
        if now < done_at:
            elapsed = max(0.0, now - started_at)
            progress = int(100 * elapsed / (done_at - started_at))
            return OperationStatus(done=False, progress=min(99, max(0, progress)))
        outcome = record["outcome"]
        if outcome == "filtered":
            return OperationStatus(
                done=True, progress=100, error_code="content_filtered",
                error_message=FILTERED_MESSAGE,
            )  # fmt: skip
        if outcome != "video":
            return OperationStatus(
                done=True, progress=100, error_code="generation_failed",
                error_message=FAILED_MESSAGE,
            )  # fmt: skip
        data = self._video(op_id, record)
        return OperationStatus(done=True, progress=100, media=Media(data, "video/mp4", "mp4"))

    def _read(self, operation_name: str) -> tuple[str, dict[str, Any]]:
        match = _NAME.fullmatch(operation_name or "")
        if match is None:
            raise GenerationError(
                "operation_not_found", f"no operation {operation_name!r}", transient=False
            )
        op_id = match.group(1)
        try:
            record = json.loads((self.operations_dir / f"{op_id}.json").read_text())
        except (OSError, ValueError) as exc:
            raise GenerationError(
                "operation_not_found", f"no operation {operation_name!r}", transient=False
            ) from exc
        return op_id, record

    def _write(self, op_id: str, record: dict[str, Any]) -> None:
        data = json.dumps(record, indent=2).encode()
        atomic_write(self.operations_dir / f"{op_id}.json", data)

    def _video(self, op_id: str, record: dict[str, Any]) -> bytes:
        """The cached MP4, rendered to a temp file and moved in place on first need."""
        path = self.videos_dir / f"{op_id}.mp4"
        with self._render_lock:
            if not path.exists():
                params = record.get("parameters") or {}
                try:
                    self.videos_dir.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=self.videos_dir, prefix=f".{op_id}.")
                    os.close(fd)
                    try:
                        local_drawing.render_mp4(
                            record["prompt"],
                            params.get("aspectRatio") or "16:9",
                            float(params.get("durationSeconds") or 8),
                            Path(tmp),
                        )
                        os.replace(tmp, path)
                    finally:
                        Path(tmp).unlink(missing_ok=True)
                except (OSError, RuntimeError) as exc:
                    raise GenerationError(
                        "generator_unavailable", f"local render failed: {exc}", transient=True
                    ) from exc
            try:
                return path.read_bytes()
            except OSError as exc:
                raise GenerationError("generator_unavailable", str(exc), transient=True) from exc
