"""A creation's download link: its answer saves the file under `<kind>-<id>.<ext>` rather
than showing it (a browser ignores a link's `download` attribute across origins, and the api
and the media are on other origins than the app)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from shared.domain.media_keys import attachment, download_name
from shared.ports import Media

ALICE = {"Authorization": "Bearer dev:alice"}


def test_an_image_answer_has_a_download_url_beside_its_media_url(api_client, deps):
    body = api_client.post("/api/generate/image", json={"prompt": "a kite"}, headers=ALICE)
    made = body.get_json()
    cid = made["creationId"]
    media_url = f"https://media.test/images/alice/{cid}.png"
    assert made["creation"]["mediaUrl"] == media_url
    assert made["creation"]["downloadUrl"] == f"{media_url}?download=image-{cid}.png"
    read = api_client.get(f"/api/creations/{cid}", headers=ALICE).get_json()["creation"]
    assert read["downloadUrl"] == made["creation"]["downloadUrl"]
    assert deps.media.get(read["downloadUrl"]) == deps.media.get(media_url)


def test_a_video_without_its_file_yet_has_no_download_url(api_client):
    accepted = api_client.post("/api/generate/video", json={"prompt": "waves"}, headers=ALICE)
    cid = accepted.get_json()["creationId"]
    read = api_client.get(f"/api/creations/{cid}", headers=ALICE).get_json()["creation"]
    assert read["status"] == "pending"
    assert read["mediaUrl"] is None and read["downloadUrl"] is None


def test_the_local_media_route_answers_a_download_as_an_attachment(api_client, deps):
    key = "videos/alice/c1.mp4"
    deps.local_media.put(key, Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4", "mp4"))
    url = deps.local_media.url(key, "video-c1.mp4")
    assert url.endswith("/media/videos/alice/c1.mp4?download=video-c1.mp4")
    parts = urlsplit(url)
    saved = api_client.get(parts.path, query_string=parts.query)
    assert saved.status_code == 200 and saved.data == b"\x00\x00\x00\x18ftypmp42"
    assert saved.headers["Content-Disposition"] == 'attachment; filename="video-c1.mp4"'
    assert saved.headers["Content-Type"] == "video/mp4"
    shown = api_client.get("/media/videos/alice/c1.mp4")
    assert shown.status_code == 200
    assert shown.headers["Content-Disposition"].startswith("inline")


@pytest.mark.parametrize("name", ["", "../x.mp4", "a b.mp4", 'x".mp4', "é.mp4", "x;y.mp4"])
def test_a_bad_download_name_is_a_400_naming_the_field(api_client, deps, name):
    deps.local_media.put("videos/alice/c2.mp4", Media(b"mp4", "video/mp4", "mp4"))
    answer = api_client.get("/media/videos/alice/c2.mp4", query_string={"download": name})
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "invalid_request"
    assert "download" in answer.get_json()["fields"]


def test_the_download_name_is_the_kind_the_id_and_the_keys_extension():
    assert download_name("video", "3f2b0c", "videos/alice@x/3f2b0c.mp4") == "video-3f2b0c.mp4"
    assert download_name("image", "c9", "images/josé/c9.png") == "image-c9.png"
    assert attachment("image-c9.png") == 'attachment; filename="image-c9.png"'
    for bad in ("", "-x.mp4", 'a".mp4', "a\r\nSet-Cookie: x", "a/b.mp4", "x" * 201):
        with pytest.raises(ValueError, match="not a download name"):
            attachment(bad)
