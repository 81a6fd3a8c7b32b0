"""The `reconcile run` and `reconcile blocks status` commands (argument parsing lives in cli.py)."""

from __future__ import annotations

import asyncio
import json
import sys

import pandas as pd

from .checks.findings import findings_records
from .settings import load_settings

CADENCES = ("immediate", "frequent", "regular", "deep")


def findings_table(findings: pd.DataFrame) -> str:
    if findings.empty:
        return "no findings"
    counts = findings.groupby(["check_id", "status", "severity"]).size().reset_index(name="count")
    lines = [f"{'check':38} {'status':8} {'severity':9} count"]
    lines += [f"{r.check_id:38} {r.status:8} {r.severity:9} {r.count:5}" for r in counts.itertuples()]
    return "\n".join(lines)


def run_command(config: str | None, cadence: str, as_json: bool) -> int:
    from .runner import run_reconciliation

    load_settings(config)  # bad settings: a clear error before anything starts
    summary = run_reconciliation(config, cadence=cadence)
    meta = summary.assets.get("consistency_findings")
    if meta is None:
        print(f"reconcile: run {summary.run_id} did not produce findings (see the Dagster run)", file=sys.stderr)
        return 1
    findings = pd.read_parquet(meta["path"])
    if as_json:
        json.dump(findings_records(findings), sys.stdout, indent=2, default=str)
        print()
    else:
        print(findings_table(findings))
        failed_checks = [name for name, check in summary.checks.items() if not check["passed"]]
        print(
            f"\nrun {summary.run_id} ({cadence}): {meta['fail']} failing, {meta['unknown']} unknown findings; "
            f"expectations not met: {', '.join(failed_checks) or 'none'}\nfindings: {meta['path']}"
        )
    return 0 if summary.success else 1


async def _block_frames(settings) -> dict[str, pd.DataFrame]:
    from .snapshots import blockstore

    kv, r2 = await asyncio.gather(blockstore.snapshot_kv(settings), blockstore.snapshot_r2(settings))
    ipfs = await blockstore.snapshot_block_ipfs(settings, kv.frame)
    return {"blockstore_kv": kv.frame, "blockstore_r2": r2.frame, "blockstore_ipfs": ipfs.frame}


def blocks_status_command(config: str | None, as_json: bool) -> int:
    """Seed 004's GET /api/storage-verify/status: per-block tier presence, complete or not, and a summary."""
    from .checks.block_checks import run_block_checks
    from .checks.block_join import build_block_consistency
    from .checks.block_status import block_statuses, status_report

    settings = load_settings(config)
    frames = asyncio.run(_block_frames(settings))
    blocks = build_block_consistency(frames, settings)
    report = status_report(block_statuses(blocks, run_block_checks(frames, settings, blocks=blocks)))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{'block':>6} {'kv':5} {'r2':5} {'ipfs':48} status")
    for block in report["blocks"]:
        ipfs = block["ipfs"] if isinstance(block["ipfs"], str) else str(block["ipfs"])
        print(f"{block['blockNumber']:>6} {block['kv']!s:5} {block['r2']!s:5} {ipfs:48} {block['status']}")
    print(f"total {report['totalBlocks']}: " + ", ".join(f"{k} {v}" for k, v in report["summary"].items()))
    return 0
