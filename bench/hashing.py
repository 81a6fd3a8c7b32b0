"""Source-image hashing against hashlib's raw SHA-256, in one process, on the same bytes.

Methods, each run until at least ``target_mb`` MiB went through it (page cache warm, best of 3 rounds):

- ``hashlib_raw``: ``hashlib.sha256(data)`` over bytes already in memory: the ceiling;
- ``hashlib_file``: ``hashlib.file_digest`` on the file (read + hash, as cheap as a file hash gets);
- ``png_check_read_hashed``: the source-image layer's hashing read (``png_check._read_hashed``: one read into
  a per-thread buffer reused from file to file, then one ``sha256`` over it, no copy);
- ``inspect_png``: the whole per-file check (hashing read, then PNG verify() and a full decode);
- ``scan_source_images``: the layer's scan of a folder of level images and their backups;
- ``plain_read_once``: a plain capped ``read`` (a fresh allocation per file) then ``sha256``: what the reused
  buffer saves (the page faults of a fresh allocation cost as much as a third of the hash on large files).

Throughput is bytes hashed per second; the target compares the layer's hashing to ``hashlib_raw``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

LEVELS = ("Bronze", "Silver", "Gold", "Platinum")


def noise_png(path: Path, side: int) -> int:
    """An incompressible RGB PNG of ``side`` x ``side`` pixels (random bytes), written to ``path``."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, format="PNG", compress_level=1)
    return path.stat().st_size


def _throughput(function, nbytes: int, target_mb: int) -> dict:
    """MiB/s of ``function`` (which processes ``nbytes`` per call), best of 3 rounds."""
    repeats = max(1, (target_mb << 20) // max(nbytes, 1))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            function()
        best = min(best, time.perf_counter() - started)
    return {"mib_per_s": round(repeats * nbytes / best / 2**20, 1), "calls": repeats, "bytes_per_call": nbytes}


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_once_hashed(path: Path, cap: int) -> tuple[bytes, str]:
    """At most ``cap + 1`` bytes in one plain read (a fresh allocation), hashed once."""
    with path.open("rb") as handle:
        data = handle.read(cap + 1)
    return data, hashlib.sha256(data).hexdigest()


def measure_size(folder: Path, side: int, target_mb: int) -> dict:
    from reconcile_pipeline.layers import png_check
    from reconcile_pipeline.layers.source_images import scan_source_images

    assets, backups = folder / f"assets-{side}", folder / f"backup-{side}"
    assets.mkdir()
    backups.mkdir()
    size = noise_png(assets / "Bronze.png", side)
    data = (assets / "Bronze.png").read_bytes()
    for level in LEVELS:
        for target in (assets / f"{level}.png", backups / f"{level}.png"):
            if not target.exists():
                target.write_bytes(data)
    limits = png_check.ImageLimits(
        max_size_bytes=max(size, 5 << 20), max_pixels=side * side, min_dimension=16, max_dimension=max(side, 4096)
    )
    path = assets / "Bronze.png"
    assert png_check.inspect_png(path, limits).status == "ok"
    scan_kwargs = dict(
        max_size_bytes=limits.max_size_bytes,
        max_pixels=limits.max_pixels,
        min_dimension=limits.min_dimension,
        max_dimension=limits.max_dimension,
    )
    methods = {
        "hashlib_raw": (lambda: hashlib.sha256(data).hexdigest(), size),
        "hashlib_file": (lambda: _file_digest(path), size),
        "png_check_read_hashed": (lambda: png_check._read_hashed(path, limits.max_size_bytes), size),
        "plain_read_once": (lambda: read_once_hashed(path, limits.max_size_bytes), size),
        "inspect_png": (lambda: png_check.inspect_png(path, limits), size),
        "scan_source_images": (lambda: scan_source_images(assets, backups, LEVELS, **scan_kwargs), 8 * size),
    }
    results = {name: _throughput(function, nbytes, target_mb) for name, (function, nbytes) in methods.items()}
    raw = results["hashlib_raw"]["mib_per_s"]
    for result in results.values():
        result["vs_hashlib_raw"] = round(result["mib_per_s"] / raw, 3)
    return {"file_bytes": size, "pixels": f"{side}x{side}", "methods": results}


def measure(target_mb: int = 256, sides: tuple[int, ...] = (1290, 4000)) -> dict:
    """1290x1290 (~5 MB: the largest a default-limits source image may be) and 4000x4000 (~48 MB)."""
    with tempfile.TemporaryDirectory() as scratch:
        return {"sizes": [measure_size(Path(scratch), side, target_mb) for side in sides]}
