"""The type checker's proof that each fake implements its port (mypy checks this module;
nothing runs it). A fake that drifts from its port fails `make lint`."""

from __future__ import annotations

from shared.ports import (
    ImageGenerator,
    MediaStorage,
    Store,
    StoreQueries,
    TaskQueue,
    VideoGenerator,
)
from tests.fakes import FakeImages, FakeMedia, FakeQueue, FakeVideos, InMemoryStore


def _conforms() -> None:
    store: Store = InMemoryStore()
    queries: StoreQueries = InMemoryStore()
    queue: TaskQueue = FakeQueue()
    videos: VideoGenerator = FakeVideos()
    images: ImageGenerator = FakeImages()
    media: MediaStorage = FakeMedia()
    del store, queries, queue, videos, images, media
