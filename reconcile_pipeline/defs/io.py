"""Parquet IO manager: one file per asset per run, ``{data_dir}/snapshots/{asset}/{run_id}.parquet``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from .resources import SettingsResource


class ParquetIOManager(ConfigurableIOManager):
    settings: SettingsResource

    def _folder(self, asset_key: tuple[str, ...]) -> Path:
        # by asset name: the deep scan's deep/<name> runs write beside every other run's files (keyed by run id)
        return Path(self.settings.load().data_dir) / "snapshots" / asset_key[-1]

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        folder = self._folder(tuple(context.asset_key.path))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{context.run_id}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        obj.to_parquet(tmp, engine="pyarrow", index=False)
        tmp.replace(path)
        context.add_output_metadata({"path": MetadataValue.path(str(path))})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        folder = self._folder(tuple(context.asset_key.path))
        upstream_run = context.upstream_output.run_id if context.upstream_output else None
        path = folder / f"{upstream_run}.parquet"
        if not upstream_run or not path.exists():
            candidates = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime)
            if not candidates:
                raise FileNotFoundError(f"no snapshot of {context.asset_key.to_user_string()} under {folder}")
            path = candidates[-1]
        return pd.read_parquet(path, engine="pyarrow")
