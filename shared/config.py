"""All configuration, read from environment variables in this one place and checked at start.

The variable names are the ones Terraform sets. `load_settings()` raises ConfigError naming
every missing, malformed or contradictory variable at once, so an instance with a bad
configuration stops at start instead of failing on its first request.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.domain.creation import PROGRESS_HEARTBEAT
from shared.domain.step_tasks import MAX_POLLS_PER_CHAIN, deadline_fits, largest_deadline_seconds

LOCAL = "local"
PRODUCTION = "production"

# Variables that switch on local conveniences; none of them may be set in production.
LOCAL_ONLY = (
    "CLOUD_TASKS_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_IDENTITY",  # the service account named to the local server
    "FIRESTORE_EMULATOR_HOST",
    "TASKS_JWKS_URL",
    "GENAI_BASE_URL",
    "R2_ENDPOINT_URL",
    "ADMIN_UIDS",  # production's operators carry the Firebase custom claim admin: true
    # The local stack's own: where local media is served from and kept, and the local
    # video generator's pace and failures.
    "PUBLIC_BASE_URL",
    "LOCAL_STATE_DIR",
    "MEDIA_DIR",
    "LOCAL_VIDEO_LATENCY_SECONDS",
    "LOCAL_VIDEO_FAILURE_RATE",
    "LOCAL_VIDEO_QUOTA_PER_MINUTE",  # the local generator's 429s, like Vertex AI's quota
)
# Adapter choices: the first is production's (and the only one it accepts), the second
# the local default.
CHOICES = {
    "IDENTITY_PROVIDER": ("firebase", "dev"),
    "VIDEO_GENERATOR": ("veo", "local"),
    "IMAGE_GENERATOR": ("gemini", "local"),
    "MEDIA_STORAGE": ("r2", "local"),
}
GENAI_BACKENDS = ("vertex", "gemini-api")
WORKER_AUTH_MODES = ("oidc", "none")
# The one definition of the model defaults (the adapters take them from here). Veo 3.1 on
# Vertex AI (GA id; the Gemini API spells it "veo-3.1-generate-preview").
DEFAULT_VIDEO_MODEL = "veo-3.1-generate-001"
DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"
LOCAL_TASKS_JWKS_URL = "http://127.0.0.1:8124/jwks"
LOCAL_ALLOWED_ORIGINS = "http://127.0.0.1:8090,http://localhost:8090"  # the local web console
LOCAL_API_URL = "http://127.0.0.1:8080"
LOCAL_CREDIT_CALLERS = "payments@local"  # `Bearer dev-service:payments@local` locally
# Tokens a new account starts with, when STARTING_TOKENS is not set.
STARTING_TOKENS_DEFAULT = {"local": 100, "production": 0}
# Set by Cloud Run (and so by Cloud Functions 2nd gen) on every instance; functions-framework
# does not set them locally. FUNCTION_TARGET is no sign: functions-framework sets it too.
CLOUD_RUN_VARIABLES = ("K_SERVICE", "K_REVISION")
ACKNOWLEDGED = "true"
GENAI_TIMEOUT_SECONDS = 60  # google-genai's per-request timeout (shared/adapters/genai_client)


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
    public_base_url: str
    media_dir: Path
    local_state_dir: Path
    video_cost: int
    starting_tokens: int
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
    image_cost: int = 1
    identity_provider: str = "dev"
    firebase_project_id: str = ""
    video_generator: str = "local"
    image_generator: str = "local"
    media_storage: str = "local"
    genai_backend: str = "vertex"
    gemini_api_key: str | None = field(default=None, repr=False)
    vertex_location: str = "us-central1"
    video_model: str = DEFAULT_VIDEO_MODEL
    image_model: str = DEFAULT_IMAGE_MODEL
    genai_base_url: str | None = None
    r2_account_id: str | None = None
    r2_access_key_id: str | None = field(default=None, repr=False)
    r2_secret_access_key: str | None = field(default=None, repr=False)
    r2_bucket: str | None = None
    r2_public_base_url: str | None = None
    r2_presign_expiry_seconds: int = 3600
    r2_endpoint_url: str | None = None
    worker_auth: str = "oidc"
    worker_auth_none_acknowledged: bool = False
    allowed_origins: tuple[str, ...] = ()
    idempotency_key_ttl_hours: int = 24
    store_deadline_seconds: float = 5.0
    queue_recheck_seconds: float = 1.0
    max_in_flight_videos: int = 3
    admin_uids: tuple[str, ...] = ()
    tasks_jwks_url: str | None = None
    tasks_emulator_identity: str | None = None
    log_format: str = "text"
    # Veo's quota (docs/DESIGN.md, "Veo's quota"): start steps go to their own queue, which
    # Cloud Tasks paces at VEO_STARTS_PER_MINUTE (Terraform sets both from one variable);
    # a video that waited MAX_QUEUE_WAIT_SECONDS for its start fails (`capacity`), refunded.
    tasks_start_queue: str = ""  # empty: start steps share TASKS_QUEUE (no pacing)
    veo_starts_per_minute: float = 10.0
    max_queue_wait_seconds: int = 1800
    local_video_quota_per_minute: int = 0  # 0: no local quota
    # Failover (issue 21): a start that Veo refuses with 429 goes to the next route: the
    # model at each of VEO_LOCATIONS (empty: VERTEX_LOCATION only), then each of
    # VEO_FALLBACK_MODELS the same way; a fallback only if its price (VIDEO_MODEL_COSTS,
    # `model=tokens,...`; unlisted: VIDEO_COST_TOKENS) is not above what was charged.
    veo_fallback_models: tuple[str, ...] = ()
    veo_locations: tuple[str, ...] = ()
    video_model_costs: tuple[tuple[str, int], ...] = ()
    api_url: str | None = None
    credit_callers: tuple[str, ...] = ()
    daily_spend_limit_tokens: int = 0  # 0: no daily cap

    @property
    def is_local(self) -> bool:
        return self.app_env == LOCAL

    @property
    def queue_path(self) -> str:
        return f"projects/{self.project}/locations/{self.tasks_location}/queues/{self.tasks_queue}"

    @property
    def start_queue_path(self) -> str | None:
        """The queue that carries start steps only (paced), or None: they share the queue."""
        if not self.tasks_start_queue or self.tasks_start_queue == self.tasks_queue:
            return None
        base = f"projects/{self.project}/locations/{self.tasks_location}/queues/"
        return base + self.tasks_start_queue

    @property
    def worker_task_url(self) -> str:
        return self.worker_url.rstrip("/") + "/tasks/video"

    @property
    def worker_audiences(self) -> tuple[str, ...]:
        """The audiences a worker request's OIDC token may carry: the configured one, or the
        URL that was called (Cloud Tasks' and Cloud Scheduler's default)."""
        base = self.worker_url.rstrip("/")
        urls = (
            self.tasks_audience,
            base,
            base + "/",
            base + "/tasks/video",
            base + "/tasks/reconcile",
        )
        return tuple(dict.fromkeys(u for u in urls if u))

    @property
    def worker_callers(self) -> tuple[str, ...]:
        """Service accounts allowed to call the worker: the invoker account, which Cloud Tasks
        and Cloud Scheduler's reconcile job both sign their OIDC tokens as (terraform/)."""
        return (self.tasks_service_account,) if self.tasks_service_account else ()

    @property
    def credit_audiences(self) -> tuple[str, ...]:
        """The audiences a payments caller's ID token may carry: the api's URL, with or
        without the trailing slash or the route's path."""
        if not self.api_url:
            return ()
        base = self.api_url.rstrip("/")
        return (base, base + "/", base + "/api/credits")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Secret values, so that logs can be scrubbed of them."""
        values = (self.gemini_api_key, self.r2_access_key_id, self.r2_secret_access_key)
        return tuple(v for v in values if v)


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

    def one_of(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.text(name, default) or default
        if value not in options:
            self.problems.append(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    def choice(self, name: str, options: tuple[str, str], local: bool) -> str:
        """An adapter choice: free locally, production's only in production."""
        production, local_default = options
        if local:
            return self.one_of(name, options, local_default)
        value = self.text(name, production)
        if value != production:
            self.problems.append(f"{name} must be {production!r} in production, got {value!r}")
        return production

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

    def optional_url(self, name: str, default: str | None, local: bool) -> str | None:
        """An http(s) URL (https in production) without its trailing slash, or None."""
        if self.text(name, default) is None:
            return None
        return self.url(name, default, local).rstrip("/")

    def costs(self, name: str) -> tuple[tuple[str, int], ...]:
        """`model=tokens,...`: a price in tokens (1..10000) per model."""
        found: dict[str, int] = {}
        for item in self.names(name, ""):
            model, _, tokens = item.partition("=")
            if not model.strip() or not tokens.strip().isdigit():
                self.problems.append(f"{name}: {item!r} is not model=tokens")
            elif not 1 <= int(tokens) <= 10_000:
                self.problems.append(f"{name}: {model.strip()}'s price must be in [1, 10000]")
            else:
                found[model.strip()] = int(tokens)
        return tuple(found.items())

    def names(self, name: str, default: str) -> tuple[str, ...]:
        raw = self.text(name, default) or ""
        return tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))

    def origins(self, name: str, default_local: str, local: bool) -> tuple[str, ...]:
        """Exact origins (scheme://host[:port]), comma-separated; https only in production."""
        raw = self.required(name, default_local, local)
        origins = tuple(o.strip() for o in raw.split(",") if o.strip())
        for origin in origins:
            parts = urlsplit(origin)
            exact = parts.scheme in ("http", "https") and parts.netloc and not parts.path
            if "*" in origin or not exact or parts.query or parts.fragment:
                self.problems.append(
                    f"{name} must list exact origins such as https://app.example.com, "
                    f"got {origin!r}"
                )
            elif not local and parts.scheme != "https":
                self.problems.append(f"{name} must use https origins in production, got {origin!r}")
        return origins


def settings_from_env(env: Mapping[str, str]) -> Settings:
    r = _Reader(env)
    app_env = r.text("APP_ENV", PRODUCTION)
    if app_env not in (LOCAL, PRODUCTION):
        r.problems.append(f"APP_ENV must be 'local' or 'production', got {app_env!r}")
    local = app_env == LOCAL
    on_cloud_run = [name for name in CLOUD_RUN_VARIABLES if r.text(name)]
    if local and on_cloud_run:
        r.problems.append(
            f"APP_ENV=local is refused on Cloud Run ({', '.join(on_cloud_run)} set): local mode "
            "grants free tokens and trusts dev identities"
        )
    if not local:
        r.problems += [
            f"{name} is a local convenience, refused when APP_ENV is not 'local'"
            for name in LOCAL_ONLY
            if r.text(name)
        ]
    choice = {name: r.choice(name, options, local) for name, options in CHOICES.items()}
    state_dir = Path(r.text("LOCAL_STATE_DIR", ".local") or ".local")
    project = r.required("GOOGLE_CLOUD_PROJECT", "demo-creator", local)
    settings = Settings(
        app_env=app_env or PRODUCTION,
        project=project,
        tasks_location=r.text("TASKS_LOCATION", "us-central1") or "",
        tasks_queue=r.text("TASKS_QUEUE", "video-generation") or "",
        worker_url=r.url("WORKER_URL", "http://127.0.0.1:8081", local),
        tasks_service_account=r.required(
            "TASKS_SERVICE_ACCOUNT", "tasks-invoker@demo-creator.iam.gserviceaccount.com", local
        ),
        tasks_audience=r.text("TASKS_AUDIENCE"),
        tasks_emulator_host=r.text("CLOUD_TASKS_EMULATOR_HOST") if local else None,
        tasks_emulator_identity=r.text("CLOUD_TASKS_EMULATOR_IDENTITY") if local else None,
        public_base_url=r.url("PUBLIC_BASE_URL", "http://127.0.0.1:8080", True),
        media_dir=Path(r.text("MEDIA_DIR") or state_dir / "media"),
        local_state_dir=state_dir,
        video_cost=r.number("VIDEO_COST_TOKENS", 10, int, 1, 10_000),
        image_cost=r.number("IMAGE_COST_TOKENS", 1, int, 1, 10_000),
        starting_tokens=r.number(
            "STARTING_TOKENS",
            STARTING_TOKENS_DEFAULT[LOCAL if local else PRODUCTION],
            int,
            0,
            1_000_000,
        ),
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
        identity_provider=choice["IDENTITY_PROVIDER"],
        firebase_project_id=r.text("FIREBASE_PROJECT_ID", project) or "",
        video_generator=choice["VIDEO_GENERATOR"],
        image_generator=choice["IMAGE_GENERATOR"],
        media_storage=choice["MEDIA_STORAGE"],
        genai_backend=r.one_of("GENAI_BACKEND", GENAI_BACKENDS, "vertex"),
        gemini_api_key=r.text("GEMINI_API_KEY"),
        vertex_location=r.text("VERTEX_LOCATION", "us-central1") or "",
        video_model=r.text("VIDEO_MODEL", DEFAULT_VIDEO_MODEL) or "",
        image_model=r.text("IMAGE_MODEL", DEFAULT_IMAGE_MODEL) or "",
        genai_base_url=r.text("GENAI_BASE_URL") if local else None,
        r2_account_id=r.text("R2_ACCOUNT_ID"),
        r2_access_key_id=r.text("R2_ACCESS_KEY_ID"),
        r2_secret_access_key=r.text("R2_SECRET_ACCESS_KEY"),
        r2_bucket=r.text("R2_BUCKET"),
        r2_public_base_url=r.text("R2_PUBLIC_BASE_URL"),
        r2_presign_expiry_seconds=r.number("R2_PRESIGN_EXPIRY_SECONDS", 3600, int, 60, 604_800),
        r2_endpoint_url=r.text("R2_ENDPOINT_URL") if local else None,
        worker_auth=r.one_of("WORKER_AUTH", WORKER_AUTH_MODES, "oidc"),
        worker_auth_none_acknowledged=r.text("WORKER_AUTH_NONE_ACKNOWLEDGED") == ACKNOWLEDGED,
        allowed_origins=r.origins("ALLOWED_ORIGINS", LOCAL_ALLOWED_ORIGINS, local),
        idempotency_key_ttl_hours=r.number("IDEMPOTENCY_KEY_TTL_HOURS", 24, int, 1, 720),
        store_deadline_seconds=r.number("STORE_DEADLINE_SECONDS", 5, float, 1, 60),
        queue_recheck_seconds=r.number("QUEUE_RECHECK_SECONDS", 1, float, 0.1, 60),
        max_in_flight_videos=r.number("MAX_IN_FLIGHT_VIDEOS", 3, int, 0, 1000),
        admin_uids=r.names("ADMIN_UIDS", "admin") if local else (),
        tasks_jwks_url=r.text("TASKS_JWKS_URL", LOCAL_TASKS_JWKS_URL) if local else None,
        log_format=r.one_of("LOG_FORMAT", ("text", "json"), "text" if local else "json"),
        tasks_start_queue=r.text("TASKS_START_QUEUE", "") or "",
        veo_starts_per_minute=r.number("VEO_STARTS_PER_MINUTE", 10, float, 0.1, 6000),
        max_queue_wait_seconds=r.number("MAX_QUEUE_WAIT_SECONDS", 1800, int, 60, 86_400),
        local_video_quota_per_minute=r.number("LOCAL_VIDEO_QUOTA_PER_MINUTE", 0, int, 0, 100_000),
        veo_fallback_models=r.names("VEO_FALLBACK_MODELS", ""),
        veo_locations=r.names("VEO_LOCATIONS", ""),
        video_model_costs=r.costs("VIDEO_MODEL_COSTS"),
        api_url=r.optional_url("API_URL", LOCAL_API_URL if local else None, local),
        credit_callers=r.names("CREDIT_CALLERS", LOCAL_CREDIT_CALLERS if local else ""),
        daily_spend_limit_tokens=r.number("DAILY_SPEND_LIMIT_TOKENS", 0, int, 0, 10_000_000),
    )
    _check_combinations(settings, r)
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _check_combinations(s: Settings, r: _Reader) -> None:
    if s.credit_callers and not s.api_url:
        # The payments caller's ID token names the api as its audience (POST /api/credits).
        r.problems.append(
            "API_URL is required when CREDIT_CALLERS is set (the ID token's audience)"
        )
    bad_callers = [c for c in s.credit_callers if "@" not in c]
    if bad_callers:
        r.problems.append(f"CREDIT_CALLERS must list service account emails, got {bad_callers!r}")
    if s.poll_initial_seconds > s.poll_max_seconds:
        r.problems.append("POLL_INITIAL_SECONDS must not exceed POLL_MAX_SECONDS")
    if not deadline_fits(s.video_deadline_seconds, s.poll_initial_seconds, s.poll_max_seconds):
        # A video polls about VIDEO_DEADLINE_SECONDS / POLL_MAX_SECONDS times: more than a
        # poll chain's task names, and a later chain's names are taken (shared/domain/step_tasks).
        r.problems.append(
            f"VIDEO_DEADLINE_SECONDS / POLL_MAX_SECONDS ({s.video_deadline_seconds} / "
            f"{s.poll_max_seconds:g}) allows more than {MAX_POLLS_PER_CHAIN} polls, the task names "
            f"of a poll chain: with POLL_MAX_SECONDS {s.poll_max_seconds:g} (and "
            f"POLL_INITIAL_SECONDS {s.poll_initial_seconds:g}) VIDEO_DEADLINE_SECONDS may be at "
            f"most {largest_deadline_seconds(s.poll_initial_seconds, s.poll_max_seconds)}"
        )
    heartbeat = PROGRESS_HEARTBEAT.total_seconds()
    if s.stale_after_seconds <= heartbeat + s.poll_max_seconds:
        r.problems.append(
            f"STALE_AFTER_SECONDS must exceed {heartbeat:.0f} s (a poll's heartbeat) "
            "+ POLL_MAX_SECONDS"
        )
    if s.video_generator == "veo" and s.start_timeout_seconds <= GENAI_TIMEOUT_SECONDS:
        r.problems.append(
            f"START_TIMEOUT_SECONDS must exceed {GENAI_TIMEOUT_SECONDS} s, the Veo request "
            "timeout, or a slow start would be refunded while it still runs"
        )
    uses_genai = s.video_generator == "veo" or s.image_generator == "gemini"
    if uses_genai and s.genai_backend == "gemini-api" and not s.gemini_api_key:
        r.problems.append("GEMINI_API_KEY is required when GENAI_BACKEND is 'gemini-api'")
    if s.video_generator == "veo" and s.genai_backend != "vertex":
        # google-genai serves video generation through Vertex AI only.
        r.problems.append("VIDEO_GENERATOR 'veo' needs GENAI_BACKEND 'vertex'")
    if uses_genai and s.genai_backend == "vertex" and s.gemini_api_key:
        r.problems.append("GEMINI_API_KEY must not be set when GENAI_BACKEND is 'vertex'")
    if s.media_storage == "r2":
        for name, value in (
            ("R2_ACCESS_KEY_ID", s.r2_access_key_id),
            ("R2_SECRET_ACCESS_KEY", s.r2_secret_access_key),
            ("R2_BUCKET", s.r2_bucket),
        ):
            if not value:
                r.problems.append(f"{name} is required when MEDIA_STORAGE is 'r2'")
        if not (s.r2_account_id or s.r2_endpoint_url):
            r.problems.append("R2_ACCOUNT_ID is required when MEDIA_STORAGE is 'r2'")
        if s.r2_public_base_url:
            r.url("R2_PUBLIC_BASE_URL", None, s.is_local)
    if s.worker_auth == "none" and not s.is_local and not s.worker_auth_none_acknowledged:
        r.problems.append(
            "WORKER_AUTH=none leaves the worker to the platform's IAM alone: set "
            f"WORKER_AUTH_NONE_ACKNOWLEDGED={ACKNOWLEDGED} to confirm"
        )
    if s.identity_provider == "firebase" and s.project and not s.firebase_project_id:
        r.problems.append("FIREBASE_PROJECT_ID (or GOOGLE_CLOUD_PROJECT) is required")


@functools.cache
def load_settings() -> Settings:
    """The process's settings, read once. Raises ConfigError."""
    return settings_from_env(os.environ)


def startup_warnings(settings: Settings) -> list[str]:
    """Log (and return) what a start should warn an operator about."""
    import logging

    from shared import events

    warnings = []
    if settings.worker_auth == "none" and not settings.is_local:
        warnings.append("worker_auth_none")
        events.emit(
            "config.worker_auth_none",
            logging.WARNING,
            detail="WORKER_AUTH=none: the worker relies on the platform's IAM check alone",
        )
    return warnings
