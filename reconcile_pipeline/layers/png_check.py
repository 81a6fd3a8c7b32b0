"""Check one PNG file the way the source-image layer needs: bounded, hashed, decoded, safe.

:func:`inspect_png` reads the file once into a per-thread buffer that is reused from file to file (no
fresh allocation, no copy: about 0.8 of hashlib's in-memory SHA-256 throughput, ``python -m bench hashing``),
never past the size cap (an oversize file is refused from its ``stat`` alone), hashes it, then decodes from
that memory: the PNG
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
import threading
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError

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


_buffers = threading.local()  # one reusable read buffer per thread


def _buffer(size: int) -> memoryview:
    """This thread's read buffer, grown to at least ``size`` bytes (reused: no page faults per file)."""
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _buffers.buffer = bytearray(size)
    return memoryview(buffer)


def _read_hashed(path: Path, cap: int) -> tuple[memoryview, str]:
    """Read at most ``cap + 1`` bytes and hash them.

    The bytes are a view of this thread's buffer, valid until the thread's next read: copy them to keep them.
    """
    with path.open("rb", buffering=0) as handle:
        expected = min(os.fstat(handle.fileno()).st_size, cap) + 1  # one more: a file that grew is seen
        view, total = _buffer(expected), 0
        while total < expected and (count := handle.readinto(view[total:expected])):
            total += count
    data = view[:total]
    return data, hashlib.sha256(data).hexdigest()


def _decode(data: memoryview | bytes, limits: ImageLimits, found: dict) -> ImageCheck:
    """Check a PNG held in memory: signature, IHDR caps (bombs), verify(), then a full load()."""
    head = bytes(data[:512])
    if not head.startswith(PNG_SIGNATURE):
        return _invalid("not_png", f"not a PNG file: it holds {_sniff(head)}", **found)
    if len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
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


def _check(path: Path, limits: ImageLimits) -> tuple[ImageCheck, memoryview | None]:
    """Stat, read (hashed) and decode one file; the bytes are a view of the thread's read buffer."""
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


def read_png(path: str | os.PathLike[str], limits: ImageLimits = DEFAULT_LIMITS) -> tuple[ImageCheck, bytes | None]:
    """Read and check one PNG file; the bytes come back too when the file was read (for a restore)."""
    check, data = _check(Path(path), limits)
    return check, None if data is None else bytes(data)


def inspect_png(path: str | os.PathLike[str], limits: ImageLimits = DEFAULT_LIMITS) -> ImageCheck:
    """Read and check one PNG file (status, size, SHA-256, dimensions, error); no copy of its bytes is kept."""
    return _check(Path(path), limits)[0]
