"""Deterministic level images for the local world and the embedded default: a medal per level.

:func:`render_level_image` draws a badge (a ribbon, a shaded medal with a star, the level's name
on a banner) in the level's colour with Pillow, drawn 4x larger and downsampled for smooth edges,
and saves it as PNG with fixed parameters and no metadata chunks (no timestamps): the same level
and size give the same bytes with the same Pillow and zlib. ``assets/images/*.png`` were made
with :func:`write_level_images`.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..layers.source_images import validate_level_name

SUPERSAMPLE = 4
BACKGROUND = (22, 28, 45)
LEVEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "Bronze": (205, 127, 50),
    "Silver": (186, 190, 198),
    "Gold": (232, 180, 30),
    "Platinum": (150, 188, 214),
    "Diamond": (110, 210, 240),
}

Colour = tuple[int, int, int]


def level_colour(level: str) -> Colour:
    """The level's colour; levels without one get a stable colour from their name's hash."""
    if level in LEVEL_COLOURS:
        return LEVEL_COLOURS[level]
    digest = hashlib.sha256(level.encode()).digest()
    return (80 + digest[0] % 160, 80 + digest[1] % 160, 80 + digest[2] % 160)


def _mix(colour: Colour, other: Colour, t: float) -> Colour:
    return tuple(round(a + (b - a) * t) for a, b in zip(colour, other, strict=True))  # type: ignore[return-value]


def _star(cx: float, cy: float, outer: float, inner: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _draw_ribbon(draw: ImageDraw.ImageDraw, s: int, colour: Colour) -> None:
    dark, light = _mix(colour, (0, 0, 0), 0.45), _mix(colour, (255, 255, 255), 0.35)
    for side in (-1, 1):
        top_x = 0.5 * s + side * 0.24 * s
        band = [(top_x - 0.09 * s, 0.04 * s), (top_x + 0.09 * s, 0.04 * s), (0.5 * s + side * 0.1 * s, 0.42 * s)]
        band.append((0.5 * s - side * 0.04 * s, 0.42 * s))
        draw.polygon(band, fill=dark)
        draw.line([(top_x, 0.04 * s), (0.5 * s + side * 0.03 * s, 0.42 * s)], fill=light, width=max(1, s // 40))


def _draw_medal(draw: ImageDraw.ImageDraw, s: int, colour: Colour) -> None:
    cx, cy, radius = 0.5 * s, 0.52 * s, 0.3 * s
    rim = _mix(colour, (0, 0, 0), 0.35)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=rim)
    steps = 24
    for step in range(steps):  # a radial highlight: light at the top left fading to the base colour
        t = step / (steps - 1)
        r = radius * 0.88 * (1 - 0.75 * t)
        ox, oy = cx - 0.06 * s * t, cy - 0.06 * s * t
        draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=_mix(colour, (255, 255, 255), 0.45 * t))
    inner = radius * 0.62
    draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], outline=rim, width=max(1, s // 60))
    draw.polygon(_star(cx, cy, inner * 0.82, inner * 0.36), fill=_mix(colour, (255, 255, 255), 0.7), outline=rim)


def _draw_banner(draw: ImageDraw.ImageDraw, s: int, colour: Colour, level: str) -> None:
    box = [0.14 * s, 0.8 * s, 0.86 * s, 0.95 * s]
    draw.rounded_rectangle(box, radius=0.04 * s, fill=_mix(colour, (0, 0, 0), 0.55), outline=colour, width=s // 120)
    font_size = 0.1 * s if len(level) <= 8 else 0.8 * s / len(level)
    font = ImageFont.load_default(size=font_size)
    draw.text((0.5 * s, 0.875 * s), level.upper(), fill=(250, 250, 250), font=font, anchor="mm")


def render_level_image(level: str, size: int = 256) -> bytes:
    """PNG bytes of the level's medal, ``size`` x ``size`` pixels, deterministic for (level, size)."""
    validate_level_name(level)
    if not 16 <= size <= 4096:
        raise ValueError(f"size {size} out of range 16..4096")
    canvas = size * SUPERSAMPLE
    image = Image.new("RGB", (canvas, canvas), BACKGROUND)
    draw = ImageDraw.Draw(image)
    colour = level_colour(level)
    draw.rounded_rectangle([0, 0, canvas - 1, canvas - 1], radius=canvas // 8, fill=_mix(BACKGROUND, colour, 0.12))
    _draw_ribbon(draw, canvas, colour)
    _draw_medal(draw, canvas, colour)
    _draw_banner(draw, canvas, colour, level)
    small = image.resize((size, size), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    small.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def write_level_images(folder: str | os.PathLike[str], levels: Iterable[str], size: int = 256) -> list[Path]:
    """Write ``<folder>/<level>.png`` for each level (creating the folder); returns the paths."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for level in levels:
        path = target / f"{validate_level_name(level)}.png"
        path.write_bytes(render_level_image(level, size))
        paths.append(path)
    return paths
