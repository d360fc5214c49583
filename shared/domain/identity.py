"""The one rule for user ids, whatever verified them (Firebase ID tokens, dev identities).

A uid names the user's Firestore document (`users/<uid>`) and a segment of their media keys
(`videos/<uid>/...`), so it must be able to be both, unchanged: a uid that cannot is refused
(401), never mapped to something else, since a mapping could make two users one.

Accepted: 1 to 128 characters (Firebase's own limit), each one a letter, mark, digit,
punctuation or symbol (Unicode categories L, M, N, P, S; non-ASCII included, compared as
is). That is every uid Firebase Auth mints (28 letters and digits) and every custom-token uid
made of letters, digits and punctuation such as `-_.@:+`.

Refused: `/` and `\\`, whitespace, control and format characters (see
`shared.domain.media_keys`); `.` and `..`; anything matching `__.*__` (reserved by
Firestore); more than 255 UTF-8 bytes (one file name in the local media folder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.domain.errors import Unauthenticated
from shared.domain.media_keys import segment_problem

MAX_UID_LENGTH = 128
UNSUPPORTED_UID = (
    "Unsupported user id: it must be 1-128 printable characters without '/', '\\' or "
    "whitespace, and not '.', '..' or '__...__'"
)
_RESERVED = re.compile(r"__.*__", re.DOTALL)


@dataclass(frozen=True)
class Identity:
    """A verified caller: their uid, and whether they may use the operator's routes (a
    Firebase custom claim `admin: true` in production; ADMIN_UIDS locally)."""

    uid: str
    admin: bool = False


def uid_problem(uid: object) -> str | None:
    """Why `uid` cannot be used as a user id, or None when it can."""
    if not isinstance(uid, str):
        return "not a string"
    if len(uid) > MAX_UID_LENGTH:
        return f"longer than {MAX_UID_LENGTH} characters"
    if _RESERVED.fullmatch(uid):
        return "reserved by Firestore (__...__)"
    return segment_problem(uid)


def check_uid(uid: object) -> str:
    """`uid` when it can be used; Unauthenticated (the same safe message for every reason)
    otherwise."""
    if uid_problem(uid) is not None:
        raise Unauthenticated(UNSUPPORTED_UID)
    assert isinstance(uid, str)
    return uid
