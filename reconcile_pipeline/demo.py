"""`reconcile demo`: a small world with every fault, every snapshot materialized in process, a summary."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .runner import materialize_snapshots
from .sandbox.world import LocalWorld
from .sandbox.worlddata import WorldSpec


def format_summary(summary: dict[str, dict]) -> str:
    lines = [f"{'asset':30} {'layer':14} {'read':12} {'rows':>6}  statuses"]
    for asset, meta in sorted(summary.items()):
        counts = ", ".join(f"{k}={v}" for k, v in sorted((meta.get("status_counts") or {}).items()))
        lines.append(
            f"{asset:30} {meta.get('layer', ''):14} {meta.get('read_status', ''):12} "
            f"{meta.get('dagster/row_count', 0):>6}  {counts}"
        )
    return "\n".join(lines)


def run_demo(spec: WorldSpec, directory: str | None = None) -> int:
    folder = Path(directory or tempfile.mkdtemp(prefix="reconcile-demo-"))
    print(f"building a world: {spec.nfts} NFTs, {spec.blocks} blocks, faults={len(spec.faults)} (seed {spec.seed})")
    with LocalWorld(spec, folder) as world:
        config = world.write_config(folder / "reconcile.toml")
        world.write_manifest(folder / "manifest.json")
        print(f"{len(world.data.faults)} faults injected; servers: {', '.join(world.servers.endpoints())}")
        summary = materialize_snapshots(str(config), tags={"reconcile/cadence": "demo"})
    print(format_summary(summary))
    print(f"\nsnapshots (Parquet): {folder / 'data' / 'snapshots'}\nmanifest: {folder / 'manifest.json'}")
    return 0
