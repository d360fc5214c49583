"""In-memory media storage, with the same key rules and URLs as the real ones."""

from __future__ import annotations

from shared.domain.errors import StorageError
from shared.ports import Media


class FakeMedia:
    """Objects in a dict, served (in tests) at `BASE_URL/<quoted key>`; `failing` makes put and
    ping raise StorageError (url makes no call, so it still answers, as R2's does)."""

    BASE_URL = "https://media.test"

    def __init__(self) -> None:
        self.objects: dict[str, Media] = {}
        self.failing = False

    def put(self, key: str, media: Media) -> None:
        from shared.domain.media_keys import check_key

        check_key(key)
        if self.failing:
            raise StorageError("storage is down")
        self.objects[key] = media

    def url(self, key: str, download: str | None = None) -> str:
        from shared.domain.media_keys import attachment, quote_key

        url = f"{self.BASE_URL}/{quote_key(key)}"
        if download is not None:
            url += f"?download={download}"
            attachment(download)
        return url

    def get(self, url: str) -> Media | None:
        """What a GET of `url` would serve, or None (a 404)."""
        from urllib.parse import unquote

        prefix = f"{self.BASE_URL}/"
        if not url.startswith(prefix):
            return None
        return self.objects.get(unquote(url.removeprefix(prefix).partition("?")[0]))

    def ping(self) -> None:
        if self.failing:
            raise StorageError("storage is down")
