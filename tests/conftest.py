"""Suite-wide fixtures: the official Firestore emulator, started once and stopped at the end."""

from __future__ import annotations

import pytest

from devtools.firestore_emulator import FirestoreEmulator

PROJECT = "demo-creator"


@pytest.fixture(scope="session")
def firestore_emulator() -> FirestoreEmulator:
    with FirestoreEmulator(project=PROJECT) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator: FirestoreEmulator):
    """A real google-cloud-firestore client talking to the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    client = firestore.Client(project=PROJECT, credentials=AnonymousCredentials())
    yield client
    client.close()
    mp.undo()
