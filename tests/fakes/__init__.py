"""In-memory fakes of the ports, for the fast unit tests; each passes its port's contract
suite (tests/contract) beside the real adapter."""

from tests.fakes.generators import FakeImages, FakeVideos
from tests.fakes.media import FakeMedia
from tests.fakes.queue import FakeQueue
from tests.fakes.store import InMemoryStore

__all__ = ["FakeImages", "FakeMedia", "FakeQueue", "FakeVideos", "InMemoryStore"]
