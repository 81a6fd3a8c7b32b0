"""Check one PNG file the way the source-image layer needs: bounded, hashed, decoded, safe.

:func:`inspect_png` reads the file once, in 1 MiB chunks, hashing as it goes and never past the
size cap (an oversize file is refused from its ``stat`` alone), then decodes from memory: the PNG
signature, the IHDR dimensions against the pixel and side caps (a decompression bomb is caught
before any pixel is decoded; Pillow's own global bomb check stays on as a second net), Pillow's
``verify()`` (chunk CRCs), then a real ``load()`` of a reopened image (truncation). Pillow is
only ever asked for ``formats=["PNG"]``.

Statuses: ``ok``; ``missing`` (no such file); ``unavailable`` (could not stat or read it);
``invalid`` with ``invalid_reason`` one of ``not_png``, ``too_large``, ``bad_dimensions``,
``bomb``, ``truncated``, ``not_file``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError

READ_CHUNK = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SNIFF = {b"\xff\xd8\xff": "JPEG data", b"GIF8": "GIF data", b"RIFF": "RIFF/WEBP data", b"%PDF": "a PDF"}


@dataclass(frozen=True)
class ImageLimits:
    max_size_bytes: int = 5 * 1024 * 1024
    max_pixels: int = 16_000_000
    min_dimension: int = 16
    max_dimension: int = 4096


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class ImageCheck:
    """What reading one file found (the per-file part of a record)."""

    status: str
    size_bytes: int | None = None
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    invalid_reason: str | None = None


def _invalid(reason: str, error: str, **found: object) -> ImageCheck:
    return ImageCheck("invalid", error=error, invalid_reason=reason, **found)  # type: ignore[arg-type]


def _sniff(data: bytes) -> str:
    if not data:
        return "an empty file"
    kind = next((name for magic, name in _SNIFF.items() if data.startswith(magic)), None)
    if kind:
        return kind
    return "text" if data[:512].isascii() else "unknown bytes"


def _read_hashed(path: Path, cap: int) -> tuple[bytes, str]:
    """Read at most ``cap + 1`` bytes in 1 MiB chunks, hashing as we go."""
    digest, parts, total = hashlib.sha256(), [], 0
    with path.open("rb") as handle:
        while total <= cap and (chunk := handle.read(min(READ_CHUNK, cap + 1 - total))):
            digest.update(chunk)
            parts.append(chunk)
            total += len(chunk)
    return b"".join(parts), digest.hexdigest()


def _decode(data: bytes, limits: ImageLimits, found: dict) -> ImageCheck:
    """Check a PNG held in memory: signature, IHDR caps (bombs), verify(), then a full load()."""
    if not data.startswith(PNG_SIGNATURE):
        return _invalid("not_png", f"not a PNG file: it holds {_sniff(data)}", **found)
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        pixels = width * height
        if pixels > limits.max_pixels:
            error = f"decompression bomb: {width}x{height} = {pixels} pixels, over the cap of {limits.max_pixels}"
            return _invalid("bomb", error, width=width, height=height, **found)
        low, high = limits.min_dimension, limits.max_dimension
        if not (low <= width <= high and low <= height <= high):
            error = f"dimensions {width}x{height} out of bounds (each side {low}..{high} pixels)"
            return _invalid("bad_dimensions", error, width=width, height=height, **found)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=["PNG"]) as image:
                image.verify()
            with Image.open(BytesIO(data), formats=["PNG"]) as image:
                image.load()
                return ImageCheck("ok", format=image.format, width=image.width, height=image.height, **found)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return _invalid("bomb", f"decompression bomb: {exc}", **found)
    except UnidentifiedImageError:
        return _invalid("not_png", "not a decodable PNG (bad IHDR or header chunks)", **found)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        return _invalid("truncated", f"truncated or corrupt PNG: {exc}", **found)


def read_png(path: str | os.PathLike[str], limits: ImageLimits = DEFAULT_LIMITS) -> tuple[ImageCheck, bytes | None]:
    """Read and check one PNG file; the bytes come back too when the file was read (for a restore)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return ImageCheck("missing"), None
    except OSError as exc:
        return ImageCheck("unavailable", error=f"cannot stat the file: {exc.strerror or exc}"), None
    if not stat.S_ISREG(info.st_mode):
        return _invalid("not_file", "not a regular file"), None
    if info.st_size > limits.max_size_bytes:
        error = f"file is {info.st_size} bytes, over the size cap of {limits.max_size_bytes}"
        return _invalid("too_large", error, size_bytes=info.st_size), None
    try:
        data, sha256 = _read_hashed(path, limits.max_size_bytes)
    except FileNotFoundError:
        return ImageCheck("missing"), None
    except OSError as exc:
        return ImageCheck("unavailable", error=f"cannot read the file: {exc.strerror or exc}"), None
    if len(data) > limits.max_size_bytes:  # it grew after stat
        return _invalid("too_large", f"file grew over the size cap of {limits.max_size_bytes}"), None
    return _decode(data, limits, {"size_bytes": len(data), "sha256": sha256}), data


def inspect_png(path: str | os.PathLike[str], limits: ImageLimits = DEFAULT_LIMITS) -> ImageCheck:
    """Read and check one PNG file (status, size, SHA-256, dimensions, error)."""
    return read_png(path, limits)[0]
