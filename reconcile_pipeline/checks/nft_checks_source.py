"""SOURCE_* checks: the level images under ``assets/images`` against the settings and the registry.

:func:`source_levels` builds one row per expected level (``settings.source_images.supported_levels``):
the file's read status and SHA-256, its backup, the registry hash, and whether an active NFT uses the
level (the DB's minted rows; chain-only mints by their metadata's level). One cause, one finding:
SOURCE_REGISTRY_DRIFT is only judged on a valid image (else SOURCE_INVALID). A folder that could not
be read makes every level unknown, never missing. SOURCE_MISSING(_ACTIVE_NFT) restores from the backup
only when the backup's SHA-256 equals the registry hash, else MANUAL_REVIEW.
"""

from __future__ import annotations

import pandas as pd

from ..settings import Settings
from .nft_checks_chain import db_ok, db_unreadable
from .nft_checks_common import Verdict, emit_verdict, flag, isin, pick, text
from .nft_join import MINTED, SOURCE_COLUMNS, frame_of

LEVEL_COLUMNS = ["level", "status", "path", "sha256", "error", "invalid_reason", "backup_status", "backup_sha256"]
DETAILS = ["status", "path", "error", "sha256", "registry_hash", "backup_status", "backup_matches_registry"]


def _active_levels(nft: pd.DataFrame) -> set[str]:
    minted = db_ok(nft) & isin(nft["db_status"], MINTED)
    chain_only = flag(nft["chain_read"], "ok") & ~db_ok(nft)
    levels = pd.concat([nft.loc[minted, "db_level"], nft.loc[chain_only, "json_level"]])
    return {str(level) for level in levels.dropna()}


def source_levels(frames: dict[str, pd.DataFrame], nft: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One row per expected level with status, hashes, backup, registry and activity (see module docstring)."""
    images, source_reason = frame_of(frames, "source_images", [*SOURCE_COLUMNS, *LEVEL_COLUMNS])
    registry, registry_reason = frame_of(frames, "db_source_image_registry", ["level", "file_hash"])
    expected = images[flag(images["expected"])][LEVEL_COLUMNS].drop_duplicates("level")
    levels = pd.DataFrame({"level": list(settings.source_images.supported_levels)}, dtype="object")
    levels = levels.merge(expected.astype({"level": "object"}), on="level", how="left")
    unread = levels["status"].isna()
    levels["status"] = levels["status"].astype("object").where(~unread, "unavailable")
    levels["error"] = levels["error"].astype("object").where(~unread, source_reason or "level not in the snapshot")
    hashes = registry[["level", "file_hash"]].dropna(subset=["level"]).drop_duplicates("level")
    hashes = hashes.rename(columns={"file_hash": "registry_hash"}).astype({"level": "object"})
    levels = levels.merge(hashes.assign(registry_read="ok"), on="level", how="left")
    levels["registry_hash"] = levels["registry_hash"].astype("object").str.lower()
    levels["registry_read"] = (
        levels["registry_read"].astype("object").fillna("unavailable" if registry_reason else "missing")
    )
    levels["registry_error"] = registry_reason
    levels["backup_matches_registry"] = flag(levels["backup_status"], "ok") & (
        levels["backup_sha256"].astype("object") == levels["registry_hash"]
    ).fillna(False)
    levels["active"] = levels["level"].isin(_active_levels(nft))
    levels["activity_known"] = db_unreadable(nft) is None
    return levels


def _restore_repair(levels: pd.DataFrame) -> pd.Series:
    return pick(levels["backup_matches_registry"], "RESTORE_SOURCE_FROM_BACKUP", "MANUAL_REVIEW")


def _source_reason(levels: pd.DataFrame) -> pd.Series:
    return levels["error"].astype("object").map(lambda e: f"source images unreadable: {e}")


def check_source_missing(levels: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    verdict = Verdict.of(flag(levels["status"], "missing"), flag(levels["status"], "unavailable"))
    return emit_verdict(
        "SOURCE_MISSING",
        levels,
        verdict,
        details=DETAILS,
        reason=_source_reason(levels),
        repair=_restore_repair(levels),
        entity="level",
    )


def check_source_invalid(levels: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    verdict = Verdict.of(flag(levels["status"], "invalid"), flag(levels["status"], "unavailable"))
    details = [*DETAILS, "invalid_reason"]
    return emit_verdict(
        "SOURCE_INVALID", levels, verdict, details=details, reason=_source_reason(levels), entity="level"
    )


def check_source_registry_drift(levels: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A valid image whose SHA-256 differs from the registry's, or that has no registry row."""
    valid = flag(levels["status"], "ok")
    registry = levels["registry_read"]
    differs = flag(registry, "ok") & (levels["sha256"].astype("object") != levels["registry_hash"])
    fail = valid & (flag(registry, "missing") | differs)
    registry_unknown = valid & flag(registry, "unavailable")
    source_unknown = flag(levels["status"], "unavailable")
    reason = pick(source_unknown, _source_reason(levels), "registry unreadable: " + text(levels["registry_error"]))
    verdict = Verdict.of(fail, registry_unknown | source_unknown)
    return emit_verdict(
        "SOURCE_REGISTRY_DRIFT", levels, verdict, details=[*DETAILS, "registry_read"], reason=reason, entity="level"
    )


def check_source_missing_active_nft(levels: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """An active NFT's level has no source image (unknown while the folder or the DB could not be read)."""
    missing, unread = flag(levels["status"], "missing"), flag(levels["status"], "unavailable")
    active, known = levels["active"].astype(bool), levels["activity_known"].astype(bool)
    unknown = (missing & ~active & ~known) | (unread & (active | ~known))
    reason = pick(unread, _source_reason(levels), "database unreadable: whether NFTs of this level exist")
    return emit_verdict(
        "SOURCE_MISSING_ACTIVE_NFT",
        levels,
        Verdict.of(missing & active, unknown),
        details=[*DETAILS, "active"],
        reason=reason,
        repair=_restore_repair(levels),
        entity="level",
    )
