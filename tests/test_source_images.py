"""The source-image layer: scanning, every kind of bad file, registry comparison, restore from backup."""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import zlib
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from reconcile_pipeline.layers import png_check, source_images
from reconcile_pipeline.layers.png_check import ImageLimits, inspect_png
from reconcile_pipeline.layers.source_images import (
    compare_with_registry,
    restore_from_backup,
    scan_source_images,
    validate_level_name,
)
from reconcile_pipeline.sandbox.images import render_level_image, write_level_images

LEVELS = ["Bronze", "Silver", "Gold", "Platinum"]
CAPS = {"max_size_bytes": 200_000, "max_pixels": 1_000_000, "min_dimension": 16, "max_dimension": 1024}
REPO_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "images"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny file claiming a huge greyscale image (one compressed row of zeros)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = png_chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1), 9))
    return b"\x89PNG\r\n\x1a\n" + header + data + png_chunk(b"IEND", b"")


def pillow_bytes(size: tuple[int, int], fmt: str) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    assets, backup = tmp_path / "assets", tmp_path / "backup"
    write_level_images(assets, LEVELS, size=64)
    write_level_images(backup, LEVELS, size=64)
    return assets, backup


def scan(assets: Path, backup: Path | None, levels: list[str] = LEVELS, **caps: int) -> dict[str, object]:
    records = scan_source_images(assets, backup, levels, **(CAPS | caps))
    return {record.level: record for record in records}


def test_good_images_are_ok_with_hash_and_size(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    records = scan_source_images(assets, backup, LEVELS, **CAPS)
    assert [r.level for r in records] == LEVELS
    for record in records:
        data = (assets / f"{record.level}.png").read_bytes()
        assert (record.status, record.format, record.width, record.height) == ("ok", "PNG", 64, 64)
        assert record.sha256 == sha(data) and record.size_bytes == len(data) and record.error is None
        assert (record.backup_status, record.backup_sha256) == ("ok", record.sha256)
        assert record.expected and record.backup_path == str(backup / f"{record.level}.png")


def test_missing_level_and_extra_png(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    (assets / "Gold.png").unlink()
    (backup / "Silver.png").unlink()
    (assets / "Diamond.png").write_bytes(render_level_image("Diamond", 32))
    records = scan(assets, backup)
    assert records["Gold"].status == "missing" and records["Gold"].sha256 is None
    assert records["Gold"].backup_status == "ok"
    assert records["Silver"].status == "ok" and records["Silver"].backup_status == "missing"
    assert records["Diamond"].expected is False and records["Diamond"].status == "ok"
    assert list(records) == [*LEVELS, "Diamond"]


@pytest.mark.parametrize(
    ("content", "reason", "message"),
    [
        (lambda: pillow_bytes((64, 64), "JPEG"), "not_png", "not a PNG file: it holds JPEG data"),
        (lambda: b"just some text, not an image\n", "not_png", "not a PNG file: it holds text"),
        (lambda: b"", "not_png", "not a PNG file: it holds an empty file"),
        (lambda: render_level_image("Gold", 64)[:3000], "truncated", "truncated or corrupt PNG"),
        (lambda: bomb_png(), "bomb", "decompression bomb: 30000x30000 = 900000000 pixels, over the cap of 1000000"),
        (lambda: pillow_bytes((4, 4), "PNG"), "bad_dimensions", "dimensions 4x4 out of bounds (each side 16..1024"),
        (lambda: pillow_bytes((2000, 16), "PNG"), "bad_dimensions", "dimensions 2000x16 out of bounds"),
    ],
)
def test_invalid_files(folders: tuple[Path, Path], content, reason: str, message: str) -> None:
    assets, backup = folders
    data = content()
    (assets / "Gold.png").write_bytes(data)
    record = scan(assets, backup)["Gold"]
    assert (record.status, record.invalid_reason) == ("invalid", reason)
    assert record.error.startswith(message)
    assert record.sha256 == sha(data) and record.size_bytes == len(data)
    assert scan(assets, backup)["Silver"].status == "ok"  # one bad file never sinks the others


def test_corrupt_crc_is_invalid(folders: tuple[Path, Path]) -> None:
    assets, _ = folders
    data = bytearray((assets / "Gold.png").read_bytes())
    data[-20] ^= 0xFF  # flip a byte inside the last IDAT chunk
    (assets / "Gold.png").write_bytes(bytes(data))
    assert scan(assets, None)["Gold"].invalid_reason == "truncated"


def test_bomb_caught_by_pillow_when_our_caps_are_loose(tmp_path: Path) -> None:
    (tmp_path / "Gold.png").write_bytes(bomb_png())
    loose = {"max_pixels": 10**12, "max_dimension": 100_000}
    record = scan(tmp_path, None, ["Gold"], **loose)["Gold"]
    assert (record.status, record.invalid_reason) == ("invalid", "bomb")
    assert "decompression bomb" in record.error


def test_oversize_file_is_refused_without_reading(folders: tuple[Path, Path], monkeypatch) -> None:
    assets, _ = folders
    for level in ("Bronze", "Silver", "Platinum"):
        (assets / f"{level}.png").unlink()
    size = (assets / "Gold.png").stat().st_size

    def no_read(*args, **kwargs):
        raise AssertionError("an oversize file must not be read")

    monkeypatch.setattr(png_check, "_read_hashed", no_read)
    record = scan(assets, None, ["Gold"], max_size_bytes=size - 1)["Gold"]
    assert (record.status, record.invalid_reason, record.size_bytes, record.sha256) == (
        "invalid",
        "too_large",
        size,
        None,
    )
    assert record.error == f"file is {size} bytes, over the size cap of {size - 1}"


def test_directory_named_png_is_invalid(folders: tuple[Path, Path]) -> None:
    assets, _ = folders
    (assets / "Gold.png").unlink()
    (assets / "Gold.png").mkdir()
    assert scan(assets, None)["Gold"].invalid_reason == "not_file"


def test_unreadable_folder_is_unavailable(folders: tuple[Path, Path], monkeypatch) -> None:
    assets, backup = folders

    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(source_images.os, "scandir", refuse)
    records = scan_source_images(assets, backup, LEVELS, **CAPS)
    assert [(r.level, r.status) for r in records] == [(level, "unavailable") for level in LEVELS]
    assert records[0].error == f"cannot read folder {assets}: Permission denied"


def test_absent_folder_is_unavailable_not_missing(tmp_path: Path) -> None:
    records = scan_source_images(tmp_path / "not-mounted", None, LEVELS, **CAPS)
    assert {r.status for r in records} == {"unavailable"}
    assert records[0].error == f"folder {tmp_path / 'not-mounted'} does not exist"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_folder_without_permissions_is_unavailable(folders: tuple[Path, Path]) -> None:
    assets, _ = folders
    assets.chmod(0)
    try:
        assert {r.status for r in scan_source_images(assets, None, LEVELS, **CAPS)} == {"unavailable"}
    finally:
        assets.chmod(0o755)


def test_read_error_on_one_file_is_unavailable(folders: tuple[Path, Path], monkeypatch) -> None:
    assets, backup = folders
    real = png_check._read_hashed

    def flaky(path: Path, cap: int):
        if path.name == "Gold.png" and path.parent == assets:
            raise OSError(errno.EIO, "Input/output error")
        return real(path, cap)

    monkeypatch.setattr(png_check, "_read_hashed", flaky)
    records = scan(assets, backup)
    assert (records["Gold"].status, records["Gold"].error) == (
        "unavailable",
        "cannot read the file: Input/output error",
    )
    assert records["Gold"].backup_status == "ok" and records["Silver"].status == "ok"


@pytest.mark.parametrize("name", ["../Gold", "a/b", "Gold\\x", "..", "Go\x00ld", "", "Gold\n", "x" * 21, "-Gold"])
def test_bad_level_names_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="refused"):
        validate_level_name(name)
    records = scan_source_images(tmp_path, None, ["Gold", name], **CAPS)
    assert [(r.level, r.status, r.invalid_reason) for r in records][1] == (name, "invalid", "bad_level_name")
    with pytest.raises(ValueError):
        restore_from_backup(name, tmp_path, tmp_path, "a" * 64)


def test_compare_with_registry(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    (assets / "Platinum.png").unlink()
    records = scan_source_images(assets, backup, LEVELS, **CAPS)
    gold = sha((assets / "Gold.png").read_bytes())
    registry = pd.DataFrame(
        {"level": ["Gold", "Silver", "Platinum"], "file_hash": [gold.upper(), "0" * 64, "1" * 64], "file_path": "x"}
    )
    frame = compare_with_registry(records, registry).set_index("level")
    assert frame.loc["Gold", "hash_matches"] == True  # noqa: E712  (nullable boolean)
    assert frame.loc["Silver", "hash_matches"] == False  # noqa: E712
    assert pd.isna(frame.loc["Bronze", "hash_matches"]) and frame.loc["Bronze", "registry_missing"]
    assert pd.isna(frame.loc["Platinum", "hash_matches"]) and not frame.loc["Platinum", "registry_missing"]
    assert frame.loc["Gold", "registry_hash"] == gold and str(frame["hash_matches"].dtype) == "boolean"


def test_restore_only_when_backup_hash_matches(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    expected = sha((backup / "Gold.png").read_bytes())
    (assets / "Gold.png").unlink()

    refused = restore_from_backup("Gold", assets, backup, "f" * 64)
    assert refused.action == "refused" and "differs from the registry's" in refused.reason
    assert not (assets / "Gold.png").exists()

    done = restore_from_backup("Gold", assets, backup, expected.upper())
    assert (done.action, done.sha256) == ("restored", expected)
    assert (assets / "Gold.png").read_bytes() == (backup / "Gold.png").read_bytes()
    assert sorted(p.name for p in assets.iterdir()) == sorted(f"{level}.png" for level in LEVELS)  # no temp left

    again = restore_from_backup("Gold", assets, backup, expected)
    assert again.action == "skipped"


def test_restore_never_overwrites_a_valid_source(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    (backup / "Gold.png").write_bytes(render_level_image("Gold", 32))  # a different, valid backup
    before = (assets / "Gold.png").read_bytes()
    result = restore_from_backup("Gold", assets, backup, sha((backup / "Gold.png").read_bytes()))
    assert result.action == "skipped" and (assets / "Gold.png").read_bytes() == before


def test_restore_refuses_bad_backup_and_invalid_source(folders: tuple[Path, Path]) -> None:
    assets, backup = folders
    good = (backup / "Gold.png").read_bytes()
    (assets / "Gold.png").write_bytes(b"garbage")
    refused = restore_from_backup("Gold", assets, backup, sha(good))
    assert refused.action == "refused" and "source is invalid" in refused.reason
    assert restore_from_backup("Gold", assets, backup, sha(good), replace_invalid=True).action == "restored"
    (assets / "Silver.png").unlink()
    (backup / "Silver.png").write_bytes(b"not a png")
    bad = restore_from_backup("Silver", assets, backup, sha(b"not a png"))
    assert bad.action == "refused" and bad.reason.startswith("backup is invalid: not a PNG")
    assert restore_from_backup("Silver", assets, backup, None).reason == "no registry hash to check the backup against"
    assert not (assets / "Silver.png").exists()


def test_rendered_images_are_deterministic_and_valid(tmp_path: Path) -> None:
    assert render_level_image("Gold") == render_level_image("Gold")
    assert render_level_image("Gold") != render_level_image("Silver")
    check = inspect_png(REPO_ASSETS / "Gold.png", ImageLimits())
    assert (check.status, check.width, check.height) == ("ok", 256, 256)
    records = scan_source_images(REPO_ASSETS, None, LEVELS, **CAPS | {"max_size_bytes": 5 * 2**20})
    assert [(r.level, r.status, r.width) for r in records] == [(level, "ok", 256) for level in LEVELS]
