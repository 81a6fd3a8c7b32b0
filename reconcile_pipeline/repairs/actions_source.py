"""Restore a level's source image from its backup when the backup's SHA-256 equals the registry's (seed 000).

Before writing, the registry hash is read again from the database: if it is no longer the hash the
plan saw, the truth changed and nothing is written. :func:`~..layers.source_images.restore_from_backup`
checks the backup (a valid PNG whose SHA-256 is the registry's), writes atomically and never overwrites a
valid source; afterwards the file is read again and judged (valid PNG, hash equals the registry's).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ..db.models import TABLES
from ..layers.png_check import ImageLimits, inspect_png
from ..layers.source_images import restore_from_backup
from .actions import Action
from .context import ApplyContext, RepairRefused, StateChanged

REGISTRY = TABLES["source_image_registry"]


def image_limits(ctx: ApplyContext) -> ImageLimits:
    cfg = ctx.settings.source_images
    return ImageLimits(cfg.max_size_bytes, cfg.max_pixels, cfg.min_dimension, cfg.max_dimension)


def _path(ctx: ApplyContext, level: str) -> Path:
    return Path(ctx.settings.source_images.assets_dir) / f"{level}.png"


def _registry_hash(ctx: ApplyContext, level: str) -> str | None:
    with ctx.db.connect() as conn:
        found = conn.execute(select(REGISTRY.c.file_hash).where(REGISTRY.c.level == level)).scalar()
    return found.lower() if isinstance(found, str) else None


class RestoreSource:
    """RESTORE_SOURCE_FROM_BACKUP."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        check = inspect_png(_path(ctx, action.target["level"]), image_limits(ctx))
        return {"status": check.status, "sha256": check.sha256}

    def done(self, action: Action, current: dict) -> bool:
        return current["status"] == "ok" and current["sha256"] == action.truth["registry_hash"]

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        level, expected = action.target["level"], action.truth["registry_hash"]
        if _registry_hash(ctx, level) != expected:
            raise StateChanged(f"the registry hash of {level} is no longer {expected}")
        backup_dir = ctx.settings.source_images.backup_dir
        if backup_dir is None:
            raise RepairRefused("no backup folder is configured")
        result = restore_from_backup(level, ctx.settings.source_images.assets_dir, backup_dir, expected,
                                     limits=image_limits(ctx))  # fmt: skip
        if result.action == "restored":
            return {"status": "ok", "sha256": result.sha256, "path": result.path, "from": result.backup_path}
        if result.action == "failed":
            raise OSError(result.reason)
        raise RepairRefused(result.reason)

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        registry = _registry_hash(ctx, action.target["level"])
        ok = now["status"] == "ok" and now["sha256"] == registry == action.truth["registry_hash"]
        return {"ok": ok, **now, "registry_hash": registry}
