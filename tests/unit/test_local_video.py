"""The local Veo stand-in: operations as JSON files, real MP4s, scripted outcomes."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from shared.adapters import local_drawing
from shared.adapters.local_image import LocalImageGenerator
from shared.adapters.local_video import LocalVideoGenerator
from shared.domain.errors import GenerationError
from shared.ports import VideoSpec


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gen(tmp_path: Path, clock: Clock) -> LocalVideoGenerator:
    return LocalVideoGenerator(tmp_path, latency_seconds=10, clock=clock)


def record(root: Path, name: str) -> dict:
    return json.loads((root / "operations" / f"{name.split('/')[-1]}.json").read_text())


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> tuple[float, tuple[int, int]]:
    """Duration in seconds and frame size, from `ffmpeg -i` stderr."""
    err = subprocess.run([ffmpeg(), "-i", str(path)], capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err).groups()
    w, ht = re.search(r"Video: h264.*?, (\d+)x(\d+)", err).groups()
    return int(h) * 3600 + int(m) * 60 + float(s), (int(w), int(ht))


def test_start_writes_the_operation(gen, tmp_path, clock):
    spec = VideoSpec("a red fox", aspect_ratio="9:16", duration_seconds=6, negative_prompt="dogs")
    name = gen.start(spec)
    assert re.fullmatch(r"local-operations/[0-9a-f]{32}", name)
    rec = record(tmp_path, name)
    assert rec["name"] == name
    assert rec["prompt"] == "a red fox"
    assert rec["started_at"] == 1_000.0
    assert rec["done_at"] == 1_010.0
    assert rec["outcome"] == "video"
    assert rec["parameters"] == {
        "aspectRatio": "9:16",
        "durationSeconds": 6,
        "resolution": "720p",
        "negativePrompt": "dogs",
    }
    assert not list((tmp_path / "operations").glob(".*"))  # no temp file left behind


def test_progress_before_done(gen, clock):
    name = gen.start(VideoSpec("waves"))
    assert gen.poll(name).progress == 0
    clock.now += 4
    status = gen.poll(name)
    assert (status.done, status.progress, status.media) == (False, 40, None)
    clock.now += 5.99
    assert gen.poll(name).progress == 99


def test_done_renders_a_playable_mp4_once(gen, tmp_path, clock, monkeypatch):
    calls = []
    real = local_drawing.render_mp4

    def counting(*args):
        calls.append(args)
        real(*args)

    monkeypatch.setattr(local_drawing, "render_mp4", counting)
    name = gen.start(VideoSpec("a blue whale at sunset", duration_seconds=4))
    clock.now += 10
    status = gen.poll(name)
    assert (status.done, status.progress, status.error_code) == (True, 100, None)
    media = status.media
    assert (media.content_type, media.extension) == ("video/mp4", "mp4")
    assert media.data[4:8] == b"ftyp"
    path = tmp_path / "videos" / f"{name.split('/')[-1]}.mp4"
    assert path.read_bytes() == media.data
    check = subprocess.run([ffmpeg(), "-v", "error", "-i", str(path), "-f", "null", "-"])
    assert check.returncode == 0
    duration, size = probe(path)
    assert abs(duration - 4) < 0.3
    assert size == (320, 180)

    assert gen.poll(name).media.data == media.data
    assert len(calls) == 1


def test_portrait_video(tmp_path, clock):
    gen = LocalVideoGenerator(tmp_path, latency_seconds=0, clock=clock)
    name = gen.start(VideoSpec("tall", aspect_ratio="9:16", duration_seconds=4))
    path = tmp_path / "v.mp4"
    path.write_bytes(gen.poll(name).media.data)
    assert probe(path)[1] == (180, 320)


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("x [fail]", "generation_failed"), ("x [filtered]", "content_filtered")],
)
def test_scripted_outcomes(gen, clock, prompt, code):
    name = gen.start(VideoSpec(prompt))
    assert gen.poll(name).done is False
    clock.now += 10
    status = gen.poll(name)
    assert (status.done, status.error_code, status.media) == (True, code, None)
    assert status.error_message


def test_transient_only_on_first_poll(gen, tmp_path, clock):
    name = gen.start(VideoSpec("[transient] [fail]"))
    with pytest.raises(GenerationError) as info:
        gen.poll(name)
    assert (info.value.code, info.value.transient) == ("generator_unavailable", True)
    assert record(tmp_path, name)["transient_raised_at"] == 1_000.0
    assert gen.poll(name).done is False
    clock.now += 10
    assert gen.poll(name).error_code == "generation_failed"


def test_start_error(gen, tmp_path):
    with pytest.raises(GenerationError) as info:
        gen.start(VideoSpec("boom [start-error]"))
    assert (info.value.code, info.value.transient) == ("generator_unavailable", True)
    assert not (tmp_path / "operations").exists()


def test_failure_rate(tmp_path, clock):
    gen = LocalVideoGenerator(
        tmp_path, latency_seconds=0, failure_rate=1, clock=clock, rng=random.Random(1)
    )
    status = gen.poll(gen.start(VideoSpec("fine")))
    assert (status.done, status.error_code) == (True, "generation_failed")


@pytest.mark.parametrize(
    "name", ["", "operations/1", "local-operations/../x", "local-operations/" + "0" * 32]
)
def test_unknown_operation(gen, name):
    with pytest.raises(GenerationError) as info:
        gen.poll(name)
    assert (info.value.code, info.value.transient) == ("operation_not_found", False)


def test_image_generator_png():
    import io

    from PIL import Image

    media = LocalImageGenerator().generate("a green field", "16:9")
    assert (media.content_type, media.extension) == ("image/png", "png")
    with Image.open(io.BytesIO(media.data)) as image:
        assert image.format == "PNG"
        assert image.size[0] > image.size[1]


@pytest.mark.parametrize(
    ("prompt", "code"), [("[fail]", "generation_failed"), ("[filtered]", "content_filtered")]
)
def test_image_generator_failures(prompt, code):
    with pytest.raises(GenerationError) as info:
        LocalImageGenerator().generate(prompt)
    assert (info.value.code, info.value.transient) == (code, False)


def test_concurrent_polls_share_one_valid_video(tmp_path, clock):
    from concurrent.futures import ThreadPoolExecutor

    first = LocalVideoGenerator(tmp_path, latency_seconds=0, clock=clock)
    second = LocalVideoGenerator(tmp_path, latency_seconds=0, clock=clock)  # another process
    name = first.start(VideoSpec("race", duration_seconds=4))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda g: g.poll(name), [first, second, first, second]))
    assert all(r.media.data[4:8] == b"ftyp" for r in results)
    videos = tmp_path / "videos"
    assert [p.name for p in videos.iterdir()] == [f"{name.split('/')[-1]}.mp4"]
    check = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(next(videos.iterdir())), "-f", "null", "-"]
    )
    assert check.returncode == 0


def test_the_local_quota_refuses_starts_beyond_it_like_vertex_ai(tmp_path):
    now = [1000.0]
    gen = LocalVideoGenerator(tmp_path, latency_seconds=0, clock=lambda: now[0], quota_per_minute=2)
    other = LocalVideoGenerator(
        tmp_path, latency_seconds=0, clock=lambda: now[0], quota_per_minute=2
    )
    gen.start(VideoSpec(prompt="one"))
    other.start(VideoSpec(prompt="two"))  # another process: the same window

    with pytest.raises(GenerationError) as refused:
        gen.start(VideoSpec(prompt="three"))
    assert refused.value.code == "generator_rate_limited"
    assert refused.value.transient and refused.value.not_started
    assert "RESOURCE_EXHAUSTED" in refused.value.message

    now[0] += 60.0  # the window moved on
    assert gen.start(VideoSpec(prompt="three")).startswith("local-operations/")


def test_without_a_quota_the_local_generator_starts_everything(tmp_path):
    gen = LocalVideoGenerator(tmp_path, latency_seconds=0)
    for i in range(20):
        gen.start(VideoSpec(prompt=f"video {i}"))
