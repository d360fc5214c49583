"""Fixtures the contract suites share."""

from __future__ import annotations

import pytest

from shared.adapters.firestore_store import FirestoreStore
from tests.fakes import InMemoryStore
from tests.servers.fake_gemini import FakeGemini


@pytest.fixture(params=["memory", "firestore"])
def store(request):
    """The Store contract's two sides: the in-memory fake, and Firestore on the emulator."""
    if request.param == "memory":
        return InMemoryStore()
    client = request.getfixturevalue("firestore_client")
    return FirestoreStore(lambda: client)


@pytest.fixture(scope="module")
def server():
    """A local server speaking the Gemini API and Vertex AI's long-running operations."""
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGemini) -> FakeGemini:
    """The same server, its scripted answers and recorded requests reset for this test."""
    server.reset()
    return server
