"""The one uid rule (shared.domain.identity): what can be a Firestore document id and a media
key segment unchanged is accepted, the rest refused with one clear 401 message."""

from __future__ import annotations

import pytest

from shared.domain.errors import Unauthenticated
from shared.domain.identity import MAX_UID_LENGTH, UNSUPPORTED_UID, check_uid, uid_problem
from shared.domain.media_keys import check_key, image_key, video_key

GOOD_UIDS = [
    pytest.param("Xy3kP0aBcDeFgHiJkLmNoPqRsT12", id="firebase-auth-28"),
    pytest.param("a", id="one-char"),
    pytest.param("u" * MAX_UID_LENGTH, id="128-chars"),
    pytest.param("alice", id="dev-style"),
    pytest.param("user@example.com", id="email"),
    pytest.param("tenant:42+bob_x-y.z", id="custom-punctuation"),
    pytest.param("auth0|5f7c8ec7c33c6c004bbafe82", id="pipe"),
    pytest.param("google-oauth2|1234567890", id="provider-prefixed"),
    pytest.param("...", id="three-dots"),
    pytest.param("__", id="two-underscores"),
    pytest.param("___", id="three-underscores"),
    pytest.param("__x", id="leading-underscores"),
    pytest.param("x__", id="trailing-underscores"),
    pytest.param("_x_", id="single-underscores"),
    pytest.param("a.b..c", id="dots-inside"),
    pytest.param("josé", id="non-ascii-letter"),
    pytest.param("用户42", id="cjk"),
    pytest.param("😀" * 63, id="emoji-252-bytes"),
]

BAD_UIDS = [
    pytest.param("", id="empty"),
    pytest.param("u" * (MAX_UID_LENGTH + 1), id="129-chars"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param("a/b", id="slash"),
    pytest.param("a/b/c", id="nested"),
    pytest.param("/a", id="leading-slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("__x__", id="reserved"),
    pytest.param("__main__", id="reserved-main"),
    pytest.param("____", id="reserved-empty-middle"),
    pytest.param("__a\nb__", id="reserved-with-newline"),
    pytest.param("a b", id="space"),
    pytest.param(" alice", id="leading-space"),
    pytest.param("alice\n", id="trailing-newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\x1bb", id="escape"),
    pytest.param("a\x7fb", id="del"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("a\xa0b", id="no-break-space"),
    pytest.param("a\u200bb", id="zero-width-space"),
    pytest.param("a\u202eb", id="bidi-override"),
    pytest.param("a\ud800b", id="lone-surrogate"),
    pytest.param("😀" * 64, id="emoji-256-bytes"),  # 64 characters, but too long as a file name
]


@pytest.mark.parametrize("uid", GOOD_UIDS)
def test_accepted_uids_pass_unchanged_and_make_valid_keys(uid):
    assert uid_problem(uid) is None
    assert check_uid(uid) == uid
    check_key(video_key(uid, "c1", "mp4"))
    check_key(image_key(uid, "c1", "png"))


@pytest.mark.parametrize("uid", BAD_UIDS)
def test_refused_uids_are_unauthenticated_with_one_clear_message(uid):
    assert uid_problem(uid)
    with pytest.raises(Unauthenticated) as info:
        check_uid(uid)
    assert str(info.value) == UNSUPPORTED_UID
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("uid", [None, 42, b"alice", ["alice"]])
def test_non_strings_are_refused(uid):
    assert uid_problem(uid) == "not a string"
    with pytest.raises(Unauthenticated):
        check_uid(uid)


def test_the_message_says_what_is_allowed():
    assert "1-128" in UNSUPPORTED_UID and "'/'" in UNSUPPORTED_UID and "__" in UNSUPPORTED_UID


def test_each_refusal_names_its_reason():
    assert uid_problem("a/b") == "contains '/'"
    assert uid_problem("__x__") == "reserved by Firestore (__...__)"
    assert uid_problem("u" * 129) == "longer than 128 characters"
    assert uid_problem("..") == "'..' is a relative path"
