"""Media storage in a local folder, served by the local api under `/media/<key>`."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from shared.domain.errors import StorageError
from shared.domain.media_keys import attachment, check_key, quote_key
from shared.ports import Media

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webm": "video/webm",
}


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalMediaStorage:
    def __init__(self, root: Path, base_url: str) -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # Belt and braces: the resolved path must stay under the resolved root (symlinks).
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise ValueError(f"invalid media key: {key!r}")
        return path

    def put(self, key: str, media: Media) -> None:
        path = self._path(key)
        try:
            atomic_write(path, media.data)
        except OSError as exc:
            raise StorageError(f"cannot write media {key!r}: {exc.strerror or exc}") from exc

    def url(self, key: str, download: str | None = None) -> str:
        """Where the local api serves `key`: `<base URL>/media/<key>` (percent-encoded); with
        `download`, `?download=<name>`, which the api answers as an attachment."""
        url = f"{self.base_url}/media/{quote_key(key)}"
        if download is not None:
            attachment(download)  # the same names R2 accepts, checked here too
            url += f"?download={download}"
        return url

    def open(self, key: str) -> tuple[Path, str]:
        """The file behind `key` and its content type; FileNotFoundError when there is none."""
        try:
            path = self._path(key)
        except (ValueError, OSError) as exc:
            raise FileNotFoundError(key) from exc
        if not path.is_file():
            raise FileNotFoundError(key)
        return path, CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")

    def ping(self) -> None:
        probe = self.root / f".ping-{uuid.uuid4().hex}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"media folder {self.root} is not writable: {exc}") from exc
