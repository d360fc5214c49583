"""Pictures for the local generators: a PNG, or a small real H.264 MP4, drawn from the prompt.

Pillow and imageio-ffmpeg are imported inside the functions, never at module import.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FPS = 12

_NAMED_COLOURS = {
    "red": (200, 40, 40),
    "orange": (235, 130, 30),
    "yellow": (235, 205, 50),
    "green": (50, 160, 70),
    "blue": (40, 80, 200),
    "purple": (120, 60, 170),
    "pink": (230, 120, 170),
    "black": (20, 20, 20),
    "white": (235, 235, 235),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "sunset": (240, 110, 60),
    "ocean": (20, 100, 160),
    "sea": (20, 100, 160),
    "forest": (30, 100, 50),
    "night": (15, 20, 60),
    "snow": (225, 230, 240),
}


def background(prompt: str) -> tuple[int, int, int]:
    """The first named colour in the prompt, or a colour from a hash of it."""
    words = "".join(c if c.isalpha() else " " for c in prompt.lower()).split()
    for word in words:
        if word in _NAMED_COLOURS:
            return _NAMED_COLOURS[word]
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0] // 2 + 40, digest[1] // 2 + 40, digest[2] // 2 + 40


def _ink(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (15, 15, 15) if luminance > 140 else (245, 245, 245)


def _ratio(aspect_ratio: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in aspect_ratio.split(":"))
    except ValueError:
        return 16, 9
    return (w, h) if w > 0 and h > 0 else (16, 9)


def frame_size(aspect_ratio: str, long_side: int) -> tuple[int, int]:
    """Width and height, both even (yuv420p needs it), the longer side `long_side`."""
    w, h = _ratio(aspect_ratio)
    short = round(long_side * min(w, h) / max(w, h) / 2) * 2
    return (long_side, short) if w >= h else (short, long_side)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _base(prompt: str, size: tuple[int, int]) -> Any:
    """The still part of a picture: background and the prompt, wrapped and centred."""
    from PIL import Image, ImageDraw

    width, height = size
    colour = background(prompt)
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    font_size = max(10, min(width, height) // 12)
    font = _font(font_size)
    chars = max(8, int(width * 0.9 / (font_size * 0.55)))
    lines = textwrap.wrap(prompt.strip() or "(empty prompt)", chars)[:6]
    draw.multiline_text(
        (width / 2, height / 2),
        "\n".join(lines),
        fill=_ink(colour),
        font=font,
        anchor="mm",
        align="center",
    )
    return image


def render_png(prompt: str, aspect_ratio: str = "1:1") -> bytes:
    import io

    from PIL import ImageDraw

    image = _base(prompt, frame_size(aspect_ratio, 512))
    draw = ImageDraw.Draw(image)
    w, h = image.size
    r = min(w, h) // 10
    draw.ellipse(
        (w - 2 * r - 10, 10, w - 10, 10 + 2 * r), outline=_ink(background(prompt)), width=3
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _accent(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A colour for the moving circle that stands out from the background."""
    yellow = (250, 200, 40)
    distance = sum(abs(a - b) for a, b in zip(rgb, yellow, strict=True))
    return yellow if distance > 150 else (40, 80, 220)


def _frames(prompt: str, size: tuple[int, int], count: int) -> Iterator[bytes]:
    from PIL import ImageDraw

    base = _base(prompt, size)
    width, height = size
    colour = background(prompt)
    ink, accent = _ink(colour), _accent(colour)
    small = _font(max(8, min(width, height) // 16))
    radius = max(6, min(width, height) // 10)
    for i in range(count):
        frame = base.copy()
        draw = ImageDraw.Draw(frame)
        t = i / max(1, count - 1)
        x = -radius + t * (width + 2 * radius)
        y = height * 0.78 + math.sin(t * 4 * math.pi) * height * 0.08
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=accent)
        draw.text((4, 4), f"{i + 1}/{count}", fill=ink, font=small)
        yield frame.tobytes()


def render_mp4(prompt: str, aspect_ratio: str, duration_seconds: float, out: Path) -> None:
    """Write a playable H.264 MP4 (yuv420p, faststart) of `duration_seconds` to `out`."""
    import imageio_ffmpeg

    size = frame_size(aspect_ratio, 320)
    count = max(1, round(duration_seconds * FPS))
    frames = b"".join(_frames(prompt, size, count))
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", str(FPS),
        "-i", "-",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, input=frames, capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({result.returncode}): {result.stderr[-500:]!r}")
