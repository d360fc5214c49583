"""Local media storage: atomic writes under a root, no way out of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.local_media import LocalMediaStorage
from shared.domain.errors import StorageError
from shared.ports import Media

VIDEO = Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4", "mp4")


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStorage:
    return LocalMediaStorage(tmp_path / "media", "http://127.0.0.1:8080/")


def test_put_then_open(media, tmp_path):
    assert media.put("videos/u1/c1.mp4", VIDEO) is None
    assert media.url("videos/u1/c1.mp4") == "http://127.0.0.1:8080/media/videos/u1/c1.mp4"
    path, content_type = media.open("videos/u1/c1.mp4")
    assert path == tmp_path / "media" / "videos" / "u1" / "c1.mp4"
    assert path.read_bytes() == VIDEO.data
    assert content_type == "video/mp4"
    assert [p.name for p in path.parent.iterdir()] == ["c1.mp4"]  # no temp file left


def test_the_url_is_the_key_under_media_percent_encoded(media):
    assert media.url("images/a@b.c+d/é#1.png") == (
        "http://127.0.0.1:8080/media/images/a%40b.c%2Bd/%C3%A9%231.png"
    )


def test_put_overwrites(media):
    media.put("a.png", Media(b"one", "image/png", "png"))
    media.put("a.png", Media(b"two", "image/png", "png"))
    assert media.open("a.png")[0].read_bytes() == b"two"


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("x.png", "image/png"),
        ("x.jpg", "image/jpeg"),
        ("x.webm", "video/webm"),
        ("x.bin", "application/octet-stream"),
    ],
)
def test_content_types(media, key, content_type):
    media.put(key, Media(b"x", "", ""))
    assert media.open(key)[1] == content_type


BAD_KEYS = [
    "", "/etc/passwd", "../x.mp4", "a/../../x.mp4", "a//b.mp4", "a\\b.mp4", "a/", "./a",
    "a\x01.mp4", "a\n.mp4", "..\\x.mp4",
]  # fmt: skip


@pytest.mark.parametrize("key", BAD_KEYS)
def test_put_rejects_traversal(media, tmp_path, key):
    with pytest.raises(ValueError):
        media.put(key, VIDEO)
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("key", [*BAD_KEYS, "missing.mp4", "videos"])
def test_open_missing_or_invalid(media, tmp_path, key):
    (tmp_path / "x.mp4").write_bytes(b"outside")
    media.put("videos/in.mp4", VIDEO)
    with pytest.raises(FileNotFoundError):
        media.open(key)


def test_open_refuses_a_symlink_out_of_root(media, tmp_path):
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "link.mp4").symlink_to(tmp_path / "secret.mp4")
    with pytest.raises(FileNotFoundError):
        media.open("link.mp4")


def test_ping_ok(media, tmp_path):
    media.ping()
    assert list((tmp_path / "media").iterdir()) == []


def test_ping_and_put_fail_under_a_file(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    broken = LocalMediaStorage(tmp_path / "file" / "media", "http://x")
    with pytest.raises(StorageError):
        broken.ping()
    with pytest.raises(StorageError):
        broken.put("a.mp4", VIDEO)
