"""Media object keys: the one rule every media storage applies, and the builders of our keys.

A key is a relative path of `/`-separated segments, stored as is in R2 (S3 keys) and as a file
under the local media folder. The rule is the intersection of what both can hold safely:

- the whole key: a non-empty str of at most 1024 UTF-8 bytes (the S3 / R2 limit);
- each segment: non-empty, not `.` or `..`, at most 255 UTF-8 bytes (a file name on the
  local folder), no backslash;
- every character printable and not a space: letters, marks, digits, punctuation and
  symbols (Unicode categories L, M, N, P, S). Refused: control characters (C0, DEL, C1),
  whitespace and other separators, format characters (zero-width, bidi overrides), lone
  surrogates, private-use and unassigned code points.

So no leading or trailing `/`, no `//`, no way out of the folder, nothing a URL or a log line
could misread. Unicode policy: non-ASCII letters and symbols are allowed (R2 and the local
folder store UTF-8 names; URLs carry them percent-encoded, see `quote_key`); no normalisation
is applied, a key is compared byte for byte.

A refused key raises ValueError: keys are built by this module from checked parts, so an
invalid one is a bug, not a user error.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_ALLOWED_CATEGORIES = frozenset("LMNPS")  # the first letter of unicodedata.category


def segment_problem(segment: object) -> str | None:
    """Why `segment` cannot be one segment of a key (a file name), or None when it can."""
    if not isinstance(segment, str):
        return "not a string"
    if not segment:
        return "empty"
    if segment in (".", ".."):
        return f"{segment!r} is a relative path"
    for ch in segment:
        if ch == "/" or ch == "\\":
            return f"contains {ch!r}"
        if unicodedata.category(ch)[0] not in _ALLOWED_CATEGORIES:
            return f"contains U+{ord(ch):04X} (a control, space, format or unassigned character)"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:  # lone surrogates are refused above
        return f"longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def key_problem(key: object) -> str | None:
    """Why `key` is not a valid media key, or None when it is."""
    if not isinstance(key, str):
        return "not a string"
    if not key:
        return "empty"
    for segment in key.split("/"):
        problem = segment_problem(segment)
        if problem is not None:
            return f"segment {segment!r}: {problem}"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    return None


def check_key(key: str) -> str:
    """`key` when it is a valid media key; ValueError naming the problem otherwise."""
    problem = key_problem(key)
    if problem is not None:
        raise ValueError(f"invalid media key {_preview(key)}: {problem}")
    return key


def quote_key(key: str) -> str:
    """The key as a URL path (UTF-8, percent-encoded; `/` kept)."""
    return quote(check_key(key), safe="/~")


def video_key(uid: str, creation_id: str, extension: str) -> str:
    """Where a creation's video is stored: `videos/<uid>/<creation id>.<extension>`."""
    return _build("videos", uid, creation_id, extension)


def image_key(uid: str, creation_id: str, extension: str) -> str:
    """Where a creation's image is stored: `images/<uid>/<creation id>.<extension>`."""
    return _build("images", uid, creation_id, extension)


_DOWNLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def download_name(kind: str, creation_id: str, key: str) -> str:
    """The file name a download saves: `<kind>-<creation id>.<the key's extension>`
    (`video-3f2b....mp4`). Only ASCII letters, digits, `.`, `_` and `-`, so that it goes
    into a Content-Disposition header and a URL as is; ValueError otherwise."""
    extension = check_key(key).rsplit("/", 1)[-1].rpartition(".")[2]
    name = f"{kind}-{creation_id}.{extension}"
    if not _DOWNLOAD_NAME.fullmatch(name):
        raise ValueError(f"not a download name: {_preview(name)}")
    return name


def attachment(name: str) -> str:
    """The Content-Disposition that saves a file as `name` (a `download_name`) rather than
    showing it."""
    if not _DOWNLOAD_NAME.fullmatch(name):
        raise ValueError(f"not a download name: {_preview(name)}")
    return f'attachment; filename="{name}"'


def _build(kind: str, uid: str, creation_id: str, extension: str) -> str:
    for name, part in (("uid", uid), ("creation id", creation_id), ("extension", extension)):
        problem = segment_problem(part)
        if problem is None and name == "extension" and "." in part:
            problem = "contains '.'"
        if problem is not None:
            raise ValueError(f"invalid {name} for a media key {_preview(part)}: {problem}")
    return check_key(f"{kind}/{uid}/{creation_id}.{extension}")


def _preview(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
