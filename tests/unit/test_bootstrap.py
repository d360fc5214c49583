"""The wiring: production settings get production adapters, built lazily, no client yet."""

from __future__ import annotations

import dataclasses

from shared.adapters.firebase_identity import FirebaseIdentityVerifier
from shared.adapters.gemini_image import GeminiImageGenerator
from shared.adapters.r2_storage import R2MediaStorage
from shared.adapters.task_oidc import TaskOidcVerifier
from shared.adapters.veo_video import VeoVideoGenerator
from shared.bootstrap import Container
from shared.config import settings_from_env
from tests.unit.production_env import PRODUCTION


def test_production_settings_wire_every_production_adapter_without_creating_a_client():
    deps = Container(settings_from_env(PRODUCTION))
    assert isinstance(deps.videos, VeoVideoGenerator)
    assert isinstance(deps.images, GeminiImageGenerator)
    assert isinstance(deps.media, R2MediaStorage)
    assert isinstance(deps.identity, FirebaseIdentityVerifier)
    assert isinstance(deps.task_auth, TaskOidcVerifier)
    assert deps.policy.starting_grant == 0
    assert PRODUCTION["R2_SECRET_ACCESS_KEY"] not in repr(deps.media)


def test_the_worker_check_can_be_left_to_the_platform():
    settings = dataclasses.replace(settings_from_env(PRODUCTION), worker_auth="none")
    assert Container(settings).task_auth is None


def test_local_settings_wire_local_adapters_and_trust_the_local_tasks_server():
    from shared.adapters.dev_identity import DevIdentityVerifier
    from shared.adapters.local_media import LocalMediaStorage
    from shared.adapters.local_video import LocalVideoGenerator

    deps = Container(settings_from_env({"APP_ENV": "local"}))
    assert isinstance(deps.videos, LocalVideoGenerator)
    assert isinstance(deps.media, LocalMediaStorage)
    assert isinstance(deps.identity, DevIdentityVerifier)
    assert isinstance(deps.task_auth, TaskOidcVerifier)
    assert deps.policy.starting_grant == 100
