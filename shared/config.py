"""All configuration, read from environment variables in this one place and checked at start.

The variable names are the ones Terraform sets. `load_settings()` raises ConfigError naming
every missing, malformed or contradictory variable at once, so an instance with a bad
configuration stops at start instead of failing on its first request.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOCAL = "local"
PRODUCTION = "production"

# Variables that switch on local conveniences; none of them may be set in production.
LOCAL_ONLY = ("CLOUD_TASKS_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    app_env: str
    project: str
    tasks_location: str
    tasks_queue: str
    worker_url: str
    tasks_service_account: str | None
    tasks_audience: str | None
    tasks_emulator_host: str | None
    firestore_emulator_host: str | None
    public_base_url: str
    media_dir: Path
    local_state_dir: Path
    video_cost: int
    dev_starting_tokens: int
    local_video_latency_seconds: float
    local_video_failure_rate: float
    video_deadline_seconds: int
    poll_initial_seconds: float
    poll_max_seconds: float
    start_timeout_seconds: int
    stale_after_seconds: int
    queue_health_ttl_seconds: float
    dispatch_deadline_seconds: int
    enqueue_budget_seconds: float
    max_body_bytes: int

    @property
    def is_local(self) -> bool:
        return self.app_env == LOCAL

    @property
    def queue_path(self) -> str:
        return f"projects/{self.project}/locations/{self.tasks_location}/queues/{self.tasks_queue}"

    @property
    def worker_task_url(self) -> str:
        return self.worker_url.rstrip("/") + "/tasks/video"


class _Reader:
    """Reads typed values and collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str, default_local: str | None, local: bool) -> str:
        value = self.text(name, default_local if local else None)
        if value is None:
            self.problems.append(f"{name} is required")
            return ""
        return value

    def number(
        self, name: str, default: float, kind: Callable[[str], Any], low: float, high: float
    ) -> Any:
        raw = self.text(name)
        if raw is None:
            return kind(str(default))
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name} must be a {kind.__name__}, got {raw!r}")
            return kind(str(default))
        if not low <= value <= high:
            self.problems.append(f"{name} must be between {low} and {high}, got {raw}")
        return value

    def url(self, name: str, default_local: str | None, local: bool) -> str:
        value = self.required(name, default_local, local)
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc):
            self.problems.append(f"{name} must be an http(s) URL, got {value!r}")
        elif value and not local and parts.scheme != "https":
            self.problems.append(f"{name} must use https in production")
        return value


def settings_from_env(env: Mapping[str, str]) -> Settings:
    r = _Reader(env)
    app_env = r.text("APP_ENV", PRODUCTION)
    if app_env not in (LOCAL, PRODUCTION):
        r.problems.append(f"APP_ENV must be 'local' or 'production', got {app_env!r}")
    local = app_env == LOCAL
    if not local:
        r.problems += [
            f"{name} is a local convenience, refused when APP_ENV is not 'local'"
            for name in LOCAL_ONLY
            if r.text(name)
        ]
        # Firebase identity, Veo and R2 adapters arrive with the production integrations;
        # until then production refuses to start rather than accept anyone.
        r.problems.append(
            "APP_ENV=production needs the Firebase identity, Veo and R2 adapters, "
            "which this build does not have yet; run with APP_ENV=local"
        )
    state_dir = Path(r.text("LOCAL_STATE_DIR", ".local") or ".local")
    worker_url = r.url("WORKER_URL", "http://127.0.0.1:8081", local)
    settings = Settings(
        app_env=app_env or PRODUCTION,
        project=r.required("GOOGLE_CLOUD_PROJECT", "demo-creator", local),
        tasks_location=r.text("TASKS_LOCATION", "us-central1") or "",
        tasks_queue=r.text("TASKS_QUEUE", "video-generation") or "",
        worker_url=worker_url,
        tasks_service_account=r.text(
            "TASKS_SERVICE_ACCOUNT",
            "tasks-invoker@demo-creator.iam.gserviceaccount.com" if local else None,
        ),
        tasks_audience=r.text("TASKS_AUDIENCE"),
        tasks_emulator_host=r.text("CLOUD_TASKS_EMULATOR_HOST") if local else None,
        firestore_emulator_host=r.text("FIRESTORE_EMULATOR_HOST") if local else None,
        public_base_url=r.url("PUBLIC_BASE_URL", "http://127.0.0.1:8080", local),
        media_dir=Path(r.text("MEDIA_DIR") or state_dir / "media"),
        local_state_dir=state_dir,
        video_cost=r.number("VIDEO_COST_TOKENS", 10, int, 1, 10_000),
        dev_starting_tokens=r.number("DEV_STARTING_TOKENS", 100, int, 0, 1_000_000),
        local_video_latency_seconds=r.number("LOCAL_VIDEO_LATENCY_SECONDS", 5, float, 0, 3600),
        local_video_failure_rate=r.number("LOCAL_VIDEO_FAILURE_RATE", 0, float, 0, 1),
        video_deadline_seconds=r.number("VIDEO_DEADLINE_SECONDS", 1800, int, 60, 86_400),
        poll_initial_seconds=r.number("POLL_INITIAL_SECONDS", 2, float, 0.1, 600),
        poll_max_seconds=r.number("POLL_MAX_SECONDS", 4, float, 0.1, 600),
        start_timeout_seconds=r.number("START_TIMEOUT_SECONDS", 120, int, 1, 3600),
        stale_after_seconds=r.number("STALE_AFTER_SECONDS", 300, int, 1, 86_400),
        queue_health_ttl_seconds=r.number("QUEUE_HEALTH_TTL_SECONDS", 5, float, 0, 300),
        dispatch_deadline_seconds=r.number("TASK_DISPATCH_DEADLINE_SECONDS", 120, int, 15, 1800),
        enqueue_budget_seconds=r.number("ENQUEUE_BUDGET_SECONDS", 0.5, float, 0.1, 10),
        max_body_bytes=r.number("MAX_BODY_BYTES", 16_384, int, 1024, 1_048_576),
    )
    if settings.poll_initial_seconds > settings.poll_max_seconds:
        r.problems.append("POLL_INITIAL_SECONDS must not exceed POLL_MAX_SECONDS")
    if settings.stale_after_seconds <= settings.poll_max_seconds:
        r.problems.append("STALE_AFTER_SECONDS must exceed POLL_MAX_SECONDS")
    if r.problems:
        raise ConfigError(r.problems)
    return settings


@functools.cache
def load_settings() -> Settings:
    """The process's settings, read once. Raises ConfigError."""
    return settings_from_env(os.environ)
