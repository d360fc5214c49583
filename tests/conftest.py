"""Suite-wide fixtures: the official Firestore emulator, started once and stopped at the end."""

from __future__ import annotations

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from tests.emulator_client import PROJECT, emulator_client


@pytest.fixture(scope="session")
def firestore_emulator() -> FirestoreEmulator:
    with FirestoreEmulator(project=PROJECT) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator: FirestoreEmulator):
    """A real google-cloud-firestore client talking to the emulator."""
    with emulator_client(firestore_emulator) as client:
        yield client


# Fixtures that start a process: a test that uses one (directly or through another fixture)
# gets the marker, so `pytest -m "not stack and not emulator"` is the fast loop.
_NEEDS = {
    "firestore_emulator": "emulator",
    "firestore_client": "emulator",
    "stack": "stack",
    "prod_stack": "stack",
}
_STACK_DIRS = ("e2e", "browser", "devtools")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        marks = {mark for fixture, mark in _NEEDS.items() if fixture in names}
        callspec = getattr(item, "callspec", None)
        if callspec and "firestore" in callspec.params.values():  # store contract, Firestore side
            marks.add("emulator")
        if any(f"/tests/{d}/" in str(item.path) for d in _STACK_DIRS):
            marks.add("stack")
        for mark in marks:
            item.add_marker(getattr(pytest.mark, mark))
