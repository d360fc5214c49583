"""A real google-cloud-firestore client on the emulator, for the suite's fixtures and the
tests that need a project of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.firestore_emulator import FirestoreEmulator

PROJECT = "demo-creator"


@contextlib.contextmanager
def emulator_client(emulator: FirestoreEmulator, project: str = PROJECT) -> Iterator[Any]:
    """A real google-cloud-firestore client of `project` on the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    try:
        yield client
    finally:
        client.close()
        mp.undo()
