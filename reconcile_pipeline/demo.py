"""`reconcile demo`: a small world with every fault, the whole reconciliation in process, a summary.

Prints each layer's read status and row count, the findings by check, and how the findings compare
with the world's manifest (the ground truth of the injected faults). Without ``--dir`` the world lives in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .commands import findings_table
from .runner import run_reconciliation
from .sandbox.build import nft_count
from .sandbox.world import LocalWorld
from .sandbox.worlddata import WorldSpec
from .snapshots import SNAPSHOT_NAMES


def format_layers(assets: dict[str, dict]) -> str:
    lines = [f"{'snapshot':30} {'layer':14} {'read':12} {'rows':>6}  statuses"]
    for name in SNAPSHOT_NAMES:
        meta = assets.get(name, {})
        counts = ", ".join(f"{k}={v}" for k, v in sorted((meta.get("status_counts") or {}).items()))
        lines.append(
            f"{name:30} {meta.get('layer', '?'):14} {meta.get('read_status', 'not run'):12} "
            f"{meta.get('dagster/row_count', 0):>6}  {counts}"
        )
    return "\n".join(lines)


def compare_with_manifest(findings: pd.DataFrame, manifest: dict) -> str:
    expected = {(f["check_id"], f["entity_type"], f["entity_id"]) for f in manifest["expected_findings"]}
    failing = findings[findings["status"] == "fail"]
    found = set(zip(failing["check_id"], failing["entity_type"], failing["entity_id"].astype(str), strict=True))
    return (
        f"ground truth: {len(expected & found)} of {len(expected)} expected findings found, "
        f"{len(found - expected)} unexpected, {int((findings['status'] == 'unknown').sum())} unknown"
    )


def run_demo(spec: WorldSpec, directory: str | None = None) -> int:
    """The demo in ``directory`` (kept), else in a temporary folder removed at the end (the command says so)."""
    if directory is not None:
        code = _demo(spec, Path(directory))
        print(f"\nfiles: {directory} (reconcile.toml, manifest.json, data/snapshots/*/<run>.parquet)")
        return code
    folder = Path(tempfile.mkdtemp(prefix="reconcile-demo-"))
    try:
        return _demo(spec, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"\nremoved the temporary folder {folder} (--dir DIR keeps the world's files, settings and Parquet)")


def _demo(spec: WorldSpec, folder: Path) -> int:
    print(
        f"building a world: {spec.nfts} NFTs, {spec.blocks} blocks, {len(spec.faults)} fault kinds (seed {spec.seed})"
    )
    with LocalWorld(spec, folder) as world:
        config = world.write_config(folder / "reconcile.toml")
        manifest = json.loads(world.write_manifest(folder / "manifest.json").read_text())
        print(f"{len(world.data.faults)} faults injected, {nft_count(world.data)}; servers on 127.0.0.1: "
              f"{', '.join(world.servers.endpoints())}")  # fmt: skip
        summary = run_reconciliation(str(config), cadence="demo")
    print("\n" + format_layers(summary.assets))
    findings_meta = summary.assets.get("consistency_findings")
    if findings_meta is None:
        print(f"\nthe reconciliation run failed ({summary.run_id})")
        return 1
    findings = pd.read_parquet(findings_meta["path"])
    print("\n" + findings_table(findings))
    print("\n" + compare_with_manifest(findings, manifest))
    return 0 if summary.success else 1
