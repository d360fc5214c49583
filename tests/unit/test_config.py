"""Configuration: read once, checked at start, local conveniences refused in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import ConfigError, settings_from_env
from tests.unit.production_env import PRODUCTION

ROOT = Path(__file__).resolve().parents[2]


def test_local_mode_needs_nothing_else():
    s = settings_from_env({"APP_ENV": "local"})
    assert s.is_local and s.video_cost == 10 and s.starting_tokens == 100
    assert s.queue_path == "projects/demo-creator/locations/us-central1/queues/video-generation"
    assert s.worker_task_url == "http://127.0.0.1:8081/tasks/video"


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigError) as bad:
        settings_from_env(
            {
                "APP_ENV": "local",
                "VIDEO_COST_TOKENS": "ten",
                "LOCAL_VIDEO_FAILURE_RATE": "2",
                "WORKER_URL": "ftp://x",
            }
        )
    text = str(bad.value)
    for name in ("VIDEO_COST_TOKENS", "LOCAL_VIDEO_FAILURE_RATE", "WORKER_URL"):
        assert name in text


def test_production_refuses_local_conveniences():
    with pytest.raises(ConfigError) as bad:
        settings_from_env(
            {
                "APP_ENV": "production",
                "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8085",
                "CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:8123",
            }
        )
    text = str(bad.value)
    assert "FIRESTORE_EMULATOR_HOST" in text and "CLOUD_TASKS_EMULATOR_HOST" in text
    assert "GOOGLE_CLOUD_PROJECT is required" in text


def test_an_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="APP_ENV"):
        settings_from_env({"APP_ENV": "staging"})


def test_a_complete_production_configuration_selects_every_production_adapter():
    s = settings_from_env(PRODUCTION)
    assert not s.is_local
    assert (s.identity_provider, s.video_generator, s.image_generator, s.media_storage) == (
        "firebase",
        "veo",
        "gemini",
        "r2",
    )
    assert s.firebase_project_id == "creator-prod" and s.worker_auth == "oidc"
    assert s.log_format == "json" and s.tasks_jwks_url is None
    assert "https://video-worker-abc-uc.a.run.app/tasks/video" in s.worker_audiences
    assert s.genai_backend == "vertex" and s.video_model == "veo-3.1-generate-001"
    for secret in ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"):
        assert PRODUCTION[secret] not in repr(s)


@pytest.mark.parametrize(
    "missing",
    [
        "GOOGLE_CLOUD_PROJECT",
        "WORKER_URL",
        "TASKS_SERVICE_ACCOUNT",
        "R2_ACCOUNT_ID",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "R2_BUCKET",
    ],
)
def test_production_names_each_missing_variable(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError) as bad:
        settings_from_env(env)
    assert any(p.startswith(missing) for p in bad.value.problems), bad.value.problems


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDENTITY_PROVIDER", "dev"),
        ("VIDEO_GENERATOR", "local"),
        ("IMAGE_GENERATOR", "local"),
        ("MEDIA_STORAGE", "local"),
        ("TASKS_JWKS_URL", "http://127.0.0.1:8124/jwks"),
        ("GENAI_BASE_URL", "http://127.0.0.1:9999"),
        ("R2_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("ADMIN_UIDS", "admin"),
        ("PUBLIC_BASE_URL", "https://api.example.com"),
        ("LOCAL_STATE_DIR", "state"),
        ("MEDIA_DIR", "media"),
        ("LOCAL_VIDEO_LATENCY_SECONDS", "1"),
        ("LOCAL_VIDEO_FAILURE_RATE", "0.5"),
        ("LOCAL_VIDEO_QUOTA_PER_MINUTE", "10"),
    ],
)
def test_production_refuses_every_local_convenience(name, value):
    with pytest.raises(ConfigError) as bad:
        settings_from_env({**PRODUCTION, name: value})
    assert [p for p in bad.value.problems if p.startswith(name)]


def test_production_needs_https_for_the_worker():
    with pytest.raises(ConfigError, match="WORKER_URL must use https"):
        settings_from_env({**PRODUCTION, "WORKER_URL": "http://worker"})


def test_the_gemini_api_needs_a_key_and_serves_images_only():
    images_only = {**PRODUCTION, "GENAI_BACKEND": "gemini-api"}
    with pytest.raises(ConfigError) as bad:
        settings_from_env(images_only)
    problems = " ".join(bad.value.problems)
    assert "GEMINI_API_KEY is required" in problems
    assert "VIDEO_GENERATOR 'veo' needs GENAI_BACKEND 'vertex'" in problems
    local = settings_from_env(
        {
            "APP_ENV": "local",
            "IMAGE_GENERATOR": "gemini",
            "GENAI_BACKEND": "gemini-api",
            "GEMINI_API_KEY": "AIzaSy-very-secret-key-0001",
        }
    )
    assert "AIzaSy-very-secret-key-0001" not in repr(local)
    assert local.secrets == ("AIzaSy-very-secret-key-0001",)
    with pytest.raises(ConfigError, match="GEMINI_API_KEY must not be set"):
        settings_from_env({**PRODUCTION, "GEMINI_API_KEY": "AIzaSy-very-secret-key-0001"})


def test_the_in_app_worker_check_can_be_left_to_the_platform_only_when_acknowledged():
    with pytest.raises(ConfigError, match="WORKER_AUTH_NONE_ACKNOWLEDGED=true"):
        settings_from_env({**PRODUCTION, "WORKER_AUTH": "none"})
    acknowledged = {**PRODUCTION, "WORKER_AUTH": "none", "WORKER_AUTH_NONE_ACKNOWLEDGED": "true"}
    assert settings_from_env(acknowledged).worker_auth == "none"
    with pytest.raises(ConfigError, match="WORKER_AUTH"):
        settings_from_env({**PRODUCTION, "WORKER_AUTH": "maybe"})


def test_worker_auth_none_warns_at_start(caplog):
    from shared.config import startup_warnings

    acknowledged = {**PRODUCTION, "WORKER_AUTH": "none", "WORKER_AUTH_NONE_ACKNOWLEDGED": "true"}
    assert startup_warnings(settings_from_env(acknowledged)) == ["worker_auth_none"]
    assert "config.worker_auth_none" in caplog.text
    assert startup_warnings(settings_from_env(PRODUCTION)) == []


@pytest.mark.parametrize("variable", ["K_SERVICE", "K_REVISION"])
def test_local_mode_is_refused_on_cloud_run(variable):
    with pytest.raises(ConfigError, match=f"APP_ENV=local is refused on Cloud Run .*{variable}"):
        settings_from_env({"APP_ENV": "local", variable: "api"})


def test_functions_framework_s_own_variable_is_no_sign_of_cloud_run():
    assert settings_from_env({"APP_ENV": "local", "FUNCTION_TARGET": "api"}).is_local


def test_allowed_origins_are_required_exact_and_https_in_production():
    without = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_ORIGINS"}
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS is required"):
        settings_from_env(without)
    for bad in ("*", "https://*.example.com", "https://app.example.com/path", "app.example.com"):
        with pytest.raises(ConfigError, match="exact origins"):
            settings_from_env({**PRODUCTION, "ALLOWED_ORIGINS": bad})
    with pytest.raises(ConfigError, match="https origins in production"):
        settings_from_env({**PRODUCTION, "ALLOWED_ORIGINS": "http://app.example.com"})
    assert settings_from_env(PRODUCTION).allowed_origins == (
        "https://app.example.com",
        "https://www.example.com",
    )
    assert settings_from_env({"APP_ENV": "local"}).allowed_origins == (
        "http://127.0.0.1:8090",
        "http://localhost:8090",
    )


def test_local_mode_can_switch_single_adapters_to_production_ones():
    s = settings_from_env({"APP_ENV": "local", "VIDEO_GENERATOR": "veo"})
    assert (s.video_generator, s.image_generator, s.identity_provider) == ("veo", "local", "dev")
    with pytest.raises(ConfigError, match="R2_BUCKET is required"):
        settings_from_env({"APP_ENV": "local", "MEDIA_STORAGE": "r2"})


def _import_main(env: dict[str, str], code: str = "import main") -> subprocess.CompletedProcess:
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR"}
    clean = {k: v for k, v in os.environ.items() if k in keep}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("env", [{}, {"APP_ENV": "production"}])
def test_the_entry_points_refuse_to_start_with_an_incomplete_production_configuration(env):
    result = _import_main(env)
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    for name in ("GOOGLE_CLOUD_PROJECT", "WORKER_URL", "TASKS_SERVICE_ACCOUNT", "R2_BUCKET"):
        assert name in result.stderr


def test_the_entry_points_start_in_production_with_no_client_and_no_local_convenience():
    code = (
        "import sys, main; "
        "assert 'google.genai' not in sys.modules and 'boto3' not in sys.modules; "
        "from shared import bootstrap; assert bootstrap._container is None; "
        "import logging; logging.getLogger('x').warning('hello Bearer abc.def.ghi')"
    )
    result = _import_main(PRODUCTION, code)
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(x) for x in result.stdout.splitlines() if '"hello' in x]
    assert line["severity"] == "WARNING" and "abc.def.ghi" not in line["message"]


def test_the_entry_points_start_in_local_mode_without_creating_clients():
    code = (
        "import sys, main; "
        "assert 'google.genai' not in sys.modules and 'boto3' not in sys.modules; "
        "from shared import bootstrap; assert bootstrap._container is None"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "APP_ENV": "local"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
