"""The source-image layer: level PNGs under ``assets/images`` (and a backup folder), no Dagster.

:func:`scan_source_images` gives one :class:`SourceImageRecord` per expected level plus one per
other ``*.png`` in the folder (``expected=False``); each file is checked by
:func:`~reconcile_pipeline.layers.png_check.inspect_png` (one hashed read, bounded decode).

    ok           read and valid
    missing      the folder was read and the file is not there
    invalid      read, but not acceptable (``invalid_reason``: not_png, too_large, bad_dimensions,
                 bomb, truncated, not_file, bad_level_name)
    unavailable  could not read (permissions, I/O error, folder absent): checks are unknown

A folder that does not exist is *unavailable*, not "everything missing": a lost mount must not
look like deleted files (nothing is restored from unknown).

:func:`compare_with_registry` joins records with ``source_image_registry``;
:func:`restore_from_backup` restores one level from the backup only when the backup is a valid
PNG whose SHA-256 equals the registry hash, writes atomically (temp file + ``os.replace``),
re-verifies, and never overwrites a valid source.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ..settings import LEVEL_NAME_PATTERN
from .png_check import DEFAULT_LIMITS, ImageCheck, ImageLimits, inspect_png, read_png

__all__ = [
    "ImageLimits",
    "RestoreResult",
    "SourceImageRecord",
    "compare_with_registry",
    "restore_from_backup",
    "scan_source_images",
    "validate_level_name",
]


@dataclass
class SourceImageRecord:
    level: str
    path: str
    status: str  # ok | missing | invalid | unavailable
    size_bytes: int | None = None
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None
    backup_path: str | None = None
    backup_status: str | None = None  # as status; None when no backup folder is configured
    backup_sha256: str | None = None
    expected: bool = True  # False: a *.png in the folder that is not an expected level
    invalid_reason: str | None = None


@dataclass(frozen=True)
class RestoreResult:
    level: str
    action: str  # restored | skipped | refused | failed
    reason: str
    path: str
    backup_path: str
    sha256: str | None = None


def validate_level_name(name: str) -> str:
    """Return ``name`` if it is a plain level name (no path, no "..", no NUL), else raise ValueError."""
    if not isinstance(name, str) or any(bad in name for bad in ("/", "\\", "..", "\x00")):
        raise ValueError(f"level name {name!r} refused: it must not contain '/', '\\', '..' or NUL")
    if not re.fullmatch(LEVEL_NAME_PATTERN, name):
        raise ValueError(f"level name {name!r} refused: it must match {LEVEL_NAME_PATTERN}")
    return name


def _folder_error(folder: Path) -> str | None:
    """Why ``folder`` cannot be listed, or None if it can."""
    try:
        with os.scandir(folder):
            return None
    except FileNotFoundError:
        return f"folder {folder} does not exist"
    except NotADirectoryError:
        return f"{folder} is not a folder"
    except OSError as exc:
        return f"cannot read folder {folder}: {exc.strerror or exc}"


def _png_names(folder: Path) -> set[str]:
    with os.scandir(folder) as entries:
        return {entry.name for entry in entries if entry.name.lower().endswith(".png")}


def _backup_check(backup_dir: Path | None, folder_error: str | None, level: str, limits: ImageLimits) -> dict:
    if backup_dir is None:
        return {}
    path = backup_dir / f"{level}.png"
    check = ImageCheck("unavailable", error=folder_error) if folder_error else inspect_png(path, limits)
    return {"backup_path": str(path), "backup_status": check.status, "backup_sha256": check.sha256}


def scan_source_images(
    assets_dir: str | os.PathLike[str],
    backup_dir: str | os.PathLike[str] | None,
    levels: Iterable[str],
    *,
    max_size_bytes: int,
    max_pixels: int,
    min_dimension: int,
    max_dimension: int,
) -> list[SourceImageRecord]:
    """Records for the expected levels (in order), bad level names, then other ``*.png`` found (sorted)."""
    folder, limits = Path(assets_dir), ImageLimits(max_size_bytes, max_pixels, min_dimension, max_dimension)
    backups = Path(backup_dir) if backup_dir is not None else None
    good: list[str] = []
    bad: list[SourceImageRecord] = []
    for level in levels:
        try:
            good.append(validate_level_name(level))
        except ValueError as exc:
            bad.append(SourceImageRecord(level, "", "invalid", error=str(exc), invalid_reason="bad_level_name"))
    try:
        names = _png_names(folder)
    except OSError:
        error = _folder_error(folder) or f"cannot read folder {folder}"
        return [SourceImageRecord(lv, str(folder / f"{lv}.png"), "unavailable", error=error) for lv in good] + bad
    backup_error = _folder_error(backups) if backups is not None else None
    extras = [name[: -len(".png")] for name in sorted(names - {f"{level}.png" for level in good})]
    records = []
    for level, expected in [(lv, True) for lv in good] + [(lv, False) for lv in extras]:
        path = folder / f"{level}.png"
        found = asdict(inspect_png(path, limits)) | _backup_check(backups, backup_error, level, limits)
        records.append(SourceImageRecord(level, str(path), expected=expected, **found))
    return records[: len(good)] + bad + records[len(good) :]


def compare_with_registry(records: Iterable[SourceImageRecord], registry: pd.DataFrame) -> pd.DataFrame:
    """Per record: the file's status and hash beside ``registry_hash``, ``hash_matches``, ``registry_missing``.

    ``hash_matches`` (nullable boolean) is NA when either side has no hash (file not ok, row without hash).
    """
    columns = ["level", "path", "status", "expected", "sha256", "backup_status", "backup_sha256"]
    files = pd.DataFrame([{name: getattr(r, name) for name in columns} for r in records], columns=columns)
    hashes = registry[["level", "file_hash"]].rename(columns={"file_hash": "registry_hash"})
    hashes = hashes.assign(registry_hash=hashes["registry_hash"].str.lower(), in_registry=True)
    joined = files.merge(hashes, on="level", how="left")
    joined["registry_missing"] = joined["in_registry"].isna()
    comparable = (joined["status"] == "ok") & joined["sha256"].notna() & joined["registry_hash"].notna()
    matches = pd.Series(pd.NA, index=joined.index, dtype="boolean")
    matches[comparable] = joined.loc[comparable, "sha256"] == joined.loc[comparable, "registry_hash"]
    joined["hash_matches"] = matches
    return joined.drop(columns="in_registry")


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then ``os.replace`` it onto ``target``."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".restore")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def restore_from_backup(
    level: str,
    assets_dir: str | os.PathLike[str],
    backup_dir: str | os.PathLike[str],
    expected_sha256: str | None,
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    replace_invalid: bool = False,
) -> RestoreResult:
    """Restore ``level``'s source image from the backup if the backup's SHA-256 is ``expected_sha256``.

    Never overwrites a valid source; an invalid one only with ``replace_invalid=True``. Returns what
    it did (``restored``, ``skipped``, ``refused``, ``failed``) and why. Bad level names raise ValueError.
    """
    validate_level_name(level)
    target, backup = Path(assets_dir) / f"{level}.png", Path(backup_dir) / f"{level}.png"

    def result(action: str, reason: str, sha256: str | None = None) -> RestoreResult:
        return RestoreResult(level, action, reason, str(target), str(backup), sha256)

    if not expected_sha256:
        return result("refused", "no registry hash to check the backup against")
    expected = expected_sha256.lower()
    if not Path(assets_dir).is_dir():
        return result("refused", f"assets folder {assets_dir} is not available")
    current = inspect_png(target, limits)
    if current.status == "ok":
        return result("skipped", "source present and valid; not overwritten", current.sha256)
    if current.status == "unavailable" or (current.status == "invalid" and not replace_invalid):
        return result("refused", f"source is {current.status} ({current.error}); left as it is", current.sha256)
    check, data = read_png(backup, limits)
    if check.status != "ok" or data is None:
        return result("refused", f"backup is {check.status}" + (f": {check.error}" if check.error else ""))
    if check.sha256 != expected:
        return result("refused", f"backup sha256 {check.sha256} differs from the registry's {expected}", check.sha256)
    try:
        _write_atomically(target, data)
    except OSError as exc:
        return result("failed", f"cannot write {target}: {exc.strerror or exc}")
    after = inspect_png(target, limits)
    if after.sha256 != expected:
        return result("failed", f"re-verification failed: file now hashes to {after.sha256}", after.sha256)
    return result("restored", f"restored from {backup} (sha256 verified before and after)", expected)
