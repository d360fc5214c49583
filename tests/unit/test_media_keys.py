"""The one media-key rule (shared.domain.media_keys) and the builders of our keys."""

from __future__ import annotations

import pytest

from shared.domain.media_keys import (
    MAX_SEGMENT_BYTES,
    check_key,
    image_key,
    key_problem,
    quote_key,
    segment_problem,
    video_key,
)

GOOD_KEYS = [
    "a",
    "a.png",
    "videos/u1/c1.mp4",
    "images/Xy3kP0aBcDeFgHiJkLmNoPqRsT12/6f1c2d.png",  # a 28-character Firebase uid
    "videos/user@example.com/c1.mp4",
    "videos/tenant:42+bob_x-y.z/c1.mp4",
    "a..b/c...d.png",  # dots inside a segment are only dots
    "~/%/#/?/&/=/!/$/'/(/)/*/,/;/[/]",
    "vidéos/josé/日本/😀.png",  # Unicode letters and symbols (policy: allowed, not normalised)
    "x" * MAX_SEGMENT_BYTES,
    "/".join(["y" * 255] * 3 + ["y" * 254, "z"]),  # 1024 bytes
]

BAD_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/abs.png", id="leading-slash"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("a//b.png", id="empty-segment"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dotdot"),
    pytest.param("../up.png", id="up"),
    pytest.param("a/../b.png", id="up-inside"),
    pytest.param("a/./b.png", id="dot-inside"),
    pytest.param("a/..", id="up-at-end"),
    pytest.param("a\\b.png", id="backslash"),
    pytest.param("..\\x.png", id="backslash-up"),
    pytest.param("a\x00b.png", id="nul"),
    pytest.param("a\x01b.png", id="c0-control"),
    pytest.param("a\nb.png", id="newline"),
    pytest.param("a\rb.png", id="carriage-return"),
    pytest.param("a\tb.png", id="tab"),
    pytest.param("a\x1bb.png", id="escape"),
    pytest.param("a\x7fb.png", id="del"),
    pytest.param("a\x85b.png", id="c1-control"),
    pytest.param("a b.png", id="space"),
    pytest.param("a\xa0b.png", id="no-break-space"),
    pytest.param("a\u2028b.png", id="line-separator"),
    pytest.param("a\u200bb.png", id="zero-width-space"),
    pytest.param("a\u202egnp.exe", id="bidi-override"),
    pytest.param("a\ufeffb.png", id="byte-order-mark"),
    pytest.param("a\ud800b.png", id="lone-surrogate"),
    pytest.param("a\ue000b.png", id="private-use"),
    pytest.param("a\u0378b.png", id="unassigned"),
    pytest.param("x" * (MAX_SEGMENT_BYTES + 1), id="segment-too-long"),
    pytest.param("é" * 128, id="segment-too-long-in-bytes"),  # 128 chars, 256 bytes
    pytest.param("/".join(["y" * 255] * 3 + ["y" * 254, "zz"]), id="key-too-long"),  # 1025
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_pass_unchanged(key):
    assert key_problem(key) is None
    assert check_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_with_the_reason(key):
    problem = key_problem(key)
    assert problem
    with pytest.raises(ValueError, match="invalid media key") as info:
        check_key(key)
    assert problem in str(info.value)


@pytest.mark.parametrize("key", [None, 12, b"a.png", ["a"]])
def test_non_strings_are_refused(key):
    assert key_problem(key) == "not a string"
    with pytest.raises(ValueError):
        check_key(key)


def test_the_error_message_shows_a_bounded_escaped_preview():
    with pytest.raises(ValueError) as info:
        check_key("a\nb/" + "x" * 5000)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("segment", "problem"),
    [
        ("", "empty"),
        (".", "'.' is a relative path"),
        ("..", "'..' is a relative path"),
        ("a/b", "contains '/'"),
        ("a\\b", "contains '\\\\'"),
        ("a b", "contains U+0020 (a control, space, format or unassigned character)"),
        ("a\x00", "contains U+0000 (a control, space, format or unassigned character)"),
        ("x" * 256, "longer than 255 bytes"),
    ],
)
def test_segment_problems(segment, problem):
    assert segment_problem(segment) == problem


def test_quote_key_percent_encodes_all_but_the_separators():
    assert quote_key("u/a+b%c#é?.png") == "u/a%2Bb%25c%23%C3%A9%3F.png"
    assert quote_key("videos/u-1_x.y~z/c1.mp4") == "videos/u-1_x.y~z/c1.mp4"
    with pytest.raises(ValueError):
        quote_key("../x")


def test_builders():
    assert video_key("alice", "c1", "mp4") == "videos/alice/c1.mp4"
    assert image_key("user@example.com", "c2", "png") == "images/user@example.com/c2.png"


@pytest.mark.parametrize(
    ("uid", "creation_id", "extension"),
    [
        ("a/b", "c1", "mp4"),  # a uid must stay one segment, not become two valid ones
        ("..", "c1", "mp4"),
        ("", "c1", "mp4"),
        ("bob", "c/1", "mp4"),
        ("bob", "", "mp4"),
        ("bob", "c1", ""),
        ("bob", "c1", "tar.gz"),
        ("bob", "c1", "mp4/x"),
        ("a\nb", "c1", "mp4"),
        ("x" * 256, "c1", "mp4"),
    ],
)
def test_builders_refuse_parts_that_are_not_one_segment(uid, creation_id, extension):
    for build in (video_key, image_key):
        with pytest.raises(ValueError, match="invalid"):
            build(uid, creation_id, extension)
