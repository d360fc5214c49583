"""The one place that wires adapters to ports, lazily.

Each port is built on first use (`functools.cached_property`), and each adapter creates its
SDK client on first call, so importing an entry point creates no client and imports no SDK
it does not use: the `api` function never imports google-genai or boto3. Tests pass fakes
as keyword overrides, which take the place of the lazy properties.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.config import GENAI_TIMEOUT_SECONDS, Settings, load_settings

if TYPE_CHECKING:
    from shared.adapters.firestore_store import FirestoreStore
    from shared.adapters.local_media import LocalMediaStorage
    from shared.ports import (
        IdentityVerifier,
        ImageGenerator,
        MediaStorage,
        Store,
        StoreQueries,
        TaskAuthenticator,
        TaskQueue,
        VideoGenerator,
    )
    from shared.services.deps import Policy
    from shared.services.queue_health import QueueHealth
    from shared.services.system_health import SystemHealth


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        **overrides: Any,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        unknown = set(overrides) - _PORTS
        if unknown:
            raise TypeError(f"unknown overrides: {sorted(unknown)}")
        if "store" in overrides:  # one store given: its read side too, unless given apart
            overrides.setdefault("queries", overrides["store"])
        # An instance attribute takes precedence over a cached_property of the same name.
        self.__dict__.update(overrides)

    @property
    def policy(self) -> Policy:
        """The business rules the services apply (read from settings at each use, so a
        test that changes a setting changes the rule)."""
        from shared.services.deps import Policy

        return Policy.from_settings(self.settings)

    @functools.cached_property
    def store(self) -> Store:
        """The money transactions (Firestore)."""
        return self._firestore

    @functools.cached_property
    def queries(self) -> StoreQueries:
        """The store's read side: the same adapter, one client."""
        return self._firestore

    @functools.cached_property
    def _firestore(self) -> FirestoreStore:
        from google.cloud import firestore

        from shared.adapters.firestore_store import FirestoreStore

        project = self.settings.project
        return FirestoreStore(
            lambda: firestore.Client(project=project),
            deadline_seconds=self.settings.store_deadline_seconds,
        )

    @functools.cached_property
    def queue(self) -> TaskQueue:
        from shared.adapters.cloud_tasks_queue import CloudTasksQueue, local_client

        s = self.settings
        if s.tasks_emulator_host:
            host, identity = s.tasks_emulator_host, s.tasks_emulator_identity

            def factory() -> Any:
                return local_client(host, identity)
        else:

            def factory() -> Any:
                from google.cloud import tasks_v2

                return tasks_v2.CloudTasksClient()

        return CloudTasksQueue(
            factory,
            queue_path=s.queue_path,
            target_url=s.worker_task_url,
            service_account=s.tasks_service_account,
            audience=s.tasks_audience,
            dispatch_deadline_seconds=s.dispatch_deadline_seconds,
            budget_seconds=s.enqueue_budget_seconds,
            start_queue_path=s.start_queue_path,
        )

    @functools.cached_property
    def queue_health(self) -> QueueHealth:
        from shared.services.queue_health import QueueHealth

        s = self.settings
        return QueueHealth(
            self.queue, s.queue_health_ttl_seconds, recheck_seconds=s.queue_recheck_seconds
        )

    @functools.cached_property
    def system_health(self) -> SystemHealth:
        from shared.services.system_health import SystemHealth

        ttl = self.settings.queue_health_ttl_seconds
        return SystemHealth(self.queries, self.media, self.queue_health, ttl)

    @functools.cached_property
    def videos(self) -> VideoGenerator:
        s = self.settings
        if s.video_generator == "veo":
            from shared.adapters.veo_video import VeoVideoGenerator

            vertex = s.genai_backend == "vertex"
            return VeoVideoGenerator(
                self._genai_client,
                s.video_model,
                vertex=vertex,
                location=s.vertex_location if vertex else None,
                client_for_location=self._genai_client_at if vertex else None,
            )
        from shared.adapters.local_video import LocalVideoGenerator

        return LocalVideoGenerator(
            s.local_state_dir / "generator",
            latency_seconds=s.local_video_latency_seconds,
            failure_rate=s.local_video_failure_rate,
            quota_per_minute=s.local_video_quota_per_minute,
            model=s.video_model,
        )

    @functools.cached_property
    def images(self) -> ImageGenerator:
        s = self.settings
        if s.image_generator == "gemini":
            from shared.adapters.gemini_image import GeminiImageGenerator

            return GeminiImageGenerator(self._genai_client, s.image_model)
        from shared.adapters.local_image import LocalImageGenerator

        return LocalImageGenerator()

    def _genai_client_at(self, location: str) -> Callable[[], Any]:
        """A Vertex AI client factory for another location (VEO_LOCATIONS' failover)."""
        from shared.adapters.genai_client import genai_client_factory

        s = self.settings
        return genai_client_factory(
            api_key=None,
            vertex_project=s.project,
            vertex_location=location,
            base_url=s.genai_base_url,
            timeout_seconds=GENAI_TIMEOUT_SECONDS,
        )

    @functools.cached_property
    def _genai_client(self) -> Callable[[], Any]:
        """One google-genai client factory, shared by the video and image generators."""
        from shared.adapters.genai_client import genai_client_factory

        s = self.settings
        vertex = s.genai_backend == "vertex"
        factory = genai_client_factory(
            api_key=None if vertex else s.gemini_api_key,
            vertex_project=s.project if vertex else None,
            vertex_location=s.vertex_location if vertex else None,
            base_url=s.genai_base_url,
            timeout_seconds=GENAI_TIMEOUT_SECONDS,
        )
        return factory

    @functools.cached_property
    def media(self) -> MediaStorage:
        s = self.settings
        if s.media_storage == "r2":
            from shared.adapters.r2_storage import R2MediaStorage, r2_client_factory, r2_endpoint

            factory = r2_client_factory(
                endpoint_url=s.r2_endpoint_url or r2_endpoint(s.r2_account_id or ""),
                access_key_id=s.r2_access_key_id or "",
                secret_access_key=s.r2_secret_access_key or "",
            )
            return R2MediaStorage(
                factory,
                s.r2_bucket or "",
                public_base_url=s.r2_public_base_url,
                presign_expiry_seconds=s.r2_presign_expiry_seconds,
            )
        return self.local_media

    @functools.cached_property
    def local_media(self) -> LocalMediaStorage:
        """The folder the local api serves under /media (local mode only)."""
        from shared.adapters.local_media import LocalMediaStorage

        return LocalMediaStorage(self.settings.media_dir, self.settings.public_base_url)

    @functools.cached_property
    def identity(self) -> IdentityVerifier:
        s = self.settings
        if s.identity_provider == "firebase":
            from shared.adapters.firebase_identity import FirebaseIdentityVerifier

            return FirebaseIdentityVerifier(s.firebase_project_id)
        from shared.adapters.dev_identity import DevIdentityVerifier

        if not s.is_local:  # the configuration refuses this already; twice is safe
            raise RuntimeError("dev identities are refused outside local mode")
        return DevIdentityVerifier(s.admin_uids)

    @functools.cached_property
    def task_auth(self) -> TaskAuthenticator | None:
        """The worker's in-app check of Cloud Tasks' OIDC token; None when WORKER_AUTH=none
        (the platform's IAM check alone). Locally it trusts the local Cloud Tasks server's key."""
        from shared.adapters.jwt_keys import JwksKeys
        from shared.adapters.task_oidc import TaskOidcVerifier

        s = self.settings
        if s.worker_auth == "none":
            return None
        keys = JwksKeys(s.tasks_jwks_url) if s.tasks_jwks_url else None
        return TaskOidcVerifier(s.worker_audiences, s.worker_callers, keys=keys)

    @functools.cached_property
    def credit_auth(self) -> TaskAuthenticator | None:
        """Who may credit tokens (POST /api/credits): a Google-signed ID token of a service
        account in CREDIT_CALLERS for the api's URL; locally `Bearer dev-service:<email>`.
        None when no caller is configured (every credit is refused)."""
        s = self.settings
        if not s.credit_callers:
            return None
        if s.is_local:
            from shared.adapters.dev_identity import DevServiceVerifier

            return DevServiceVerifier(s.credit_callers)
        from shared.adapters.task_oidc import NOT_A_PAYMENTS_CALLER, TaskOidcVerifier

        return TaskOidcVerifier(s.credit_audiences, s.credit_callers, refusal=NOT_A_PAYMENTS_CALLER)


_PORTS = {
    name
    for name, value in vars(Container).items()
    if isinstance(value, functools.cached_property) and not name.startswith("_")
}

_container: Container | None = None
_lock = threading.Lock()


def container() -> Container:
    """The process's container, built from the environment on first use."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(load_settings())
    return _container
