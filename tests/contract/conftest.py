"""Fixtures the contract suites share."""

from __future__ import annotations

import pytest

from tests.servers.fake_gemini import FakeGemini


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
