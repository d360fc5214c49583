"""A lazily created, cached google-genai client, shared by the Veo and Gemini image adapters.

`google.genai` is imported only when the first client is built, never at module import:
the `api` function's cold start must not pay for it. The client is configured for a backend
whose callers retry by themselves (Cloud Tasks re-delivers a failed step), so the SDK's own
retries are off and every request has a bounded timeout.

Two backends:
- the Gemini Developer API (`api_key`), sent as the `x-goog-api-key` header;
- Vertex AI (`vertex_project` + `vertex_location`), authenticated with Application Default
  Credentials (the function's service account) unless explicit `credentials` are given.

Note: google-genai 3.4.0 generates videos (Veo) on Vertex AI only; see veo_video.py.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.adapters.lazy import Lazy
from shared.domain.errors import GenerationError
from shared.logs import redact

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at runtime here
    from google import genai


def genai_client_factory(
    *,
    api_key: str | None,
    vertex_project: str | None,
    vertex_location: str | None,
    base_url: str | None = None,
    timeout_seconds: float = 60,
    credentials: Any = None,
) -> Callable[[], genai.Client]:
    """A zero-argument factory returning one cached `genai.Client` (built on first call).

    Exactly one of `api_key` (Gemini Developer API) and `vertex_project` (Vertex AI, with
    `vertex_location`, default "global"; Veo is served from regions such as "us-central1") must
    be given; `vertex_location` is ignored with an `api_key`. `base_url` points the client at
    another endpoint (the tests' fake server). `credentials` (google.auth credentials) apply to
    Vertex only; None means Application Default Credentials, looked up at the first request.
    `timeout_seconds` bounds each HTTP request; the SDK's own retries are off. Thread-safe:
    concurrent first calls build a single client.
    """
    if bool(api_key) == bool(vertex_project):
        raise ValueError("give exactly one of api_key (Gemini API) or vertex_project (Vertex AI)")
    if api_key and credentials is not None:
        raise ValueError("credentials apply to Vertex AI only (the Gemini API uses api_key)")
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    timeout_ms = max(1, int(timeout_seconds * 1000))

    def build() -> genai.Client:
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=base_url,
            timeout=timeout_ms,
            # One attempt per call: the step is retried by Cloud Tasks, not inside a request.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        if api_key:
            # vertexai=False explicitly: GOOGLE_GENAI_USE_VERTEXAI in the env must not flip it.
            return genai.Client(vertexai=False, api_key=api_key, http_options=http_options)
        return genai.Client(
            vertexai=True,
            project=vertex_project,
            location=vertex_location or "global",
            credentials=credentials,
            http_options=http_options,
        )

    return Lazy(build).get


MESSAGE_LIMIT = 300


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = redact(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP stacks' transport failures (connection refused, resets, timeouts)."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):  # google-genai 3.4 defaults to httpx2
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append(module.HTTPError)
    try:
        import requests  # the google-auth mTLS session path

        found.append(requests.exceptions.RequestException)
    except ImportError:
        pass
    return tuple(found)


def _never_connected(exc: BaseException) -> bool:
    """A connection that was never made: the request cannot have run."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    return type(exc).__name__ in ("ConnectError", "ConnectTimeout")


def to_generation_error(
    exc: BaseException, *, what: str, not_found_code: str | None = None
) -> GenerationError:
    """Map an exception raised by google-genai (or its HTTP stack) to a GenerationError.

    ClientError 429 → generator_rate_limited (transient); 408 → generator_unavailable
    (transient); 404 → `not_found_code` when given; other 4xx → generation_rejected
    (permanent). ServerError / transport errors / timeouts → generator_unavailable (transient).
    Missing credentials or an invalid request built by the SDK → generator_misconfigured
    (permanent). Anything else → generator_error (transient). Messages are redacted.
    """
    from google.auth import exceptions as auth_errors
    from google.genai import errors

    if isinstance(exc, GenerationError):
        return exc
    if isinstance(exc, errors.APIError):
        code = int(exc.code or 0)
        detail = shorten(f"{what}: HTTP {code} {exc.status or ''} {exc.message or ''}")
        if isinstance(exc, errors.ClientError):
            if code == 429:
                return GenerationError(
                    "generator_rate_limited", detail, transient=True, not_started=True
                )
            if code == 408:
                return GenerationError("generator_unavailable", detail, transient=True)
            if code == 404 and not_found_code:
                return GenerationError(not_found_code, detail, transient=False)
            return GenerationError("generation_rejected", detail, transient=False)
        return GenerationError("generator_unavailable", detail, transient=True)
    if isinstance(exc, auth_errors.DefaultCredentialsError):
        return GenerationError(
            "generator_misconfigured", shorten(f"{what}: no credentials: {exc}"), transient=False
        )
    if isinstance(exc, auth_errors.GoogleAuthError):  # token refresh / metadata server
        return GenerationError(
            "generator_unavailable",
            shorten(f"{what}: auth: {exc}"),
            transient=True,
            not_started=True,
        )
    if isinstance(exc, (*_transport_errors(), OSError, TimeoutError)):
        name = type(exc).__name__
        return GenerationError(
            "generator_unavailable",
            shorten(f"{what}: {name}: {exc}"),
            transient=True,
            not_started=_never_connected(exc),
        )
    if isinstance(exc, errors.UnknownApiResponseError):
        return GenerationError("generator_bad_response", shorten(f"{what}: {exc}"), transient=True)
    if isinstance(exc, (ValueError, TypeError)):
        return GenerationError(
            "generator_misconfigured", shorten(f"{what}: {exc}"), transient=False
        )
    return GenerationError(
        "generator_error", shorten(f"{what}: {type(exc).__name__}: {exc}"), transient=True
    )
