"""Configuration: read once, checked at start, local conveniences refused in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import ConfigError, settings_from_env

ROOT = Path(__file__).resolve().parents[2]


def test_local_mode_needs_nothing_else():
    s = settings_from_env({"APP_ENV": "local"})
    assert s.is_local and s.video_cost == 10 and s.dev_starting_tokens == 100
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


@pytest.mark.parametrize("env", [{}, {"APP_ENV": "production"}])
def test_the_entry_points_refuse_to_start_outside_local_mode(env):
    clean = {k: v for k, v in os.environ.items() if k not in ("APP_ENV",)}
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr and "APP_ENV" in result.stderr


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
