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
    """One reconciliation over the cadence's scope (as its schedule or sensor runs it), then its alerts."""
    from .runner import run_cadence

    load_settings(config)  # bad settings: a clear error before anything starts
    summary = run_cadence(config, cadence)
    if summary is None:
        print("[]" if as_json else f"{cadence}: no new event since the last run, nothing to verify")
        return 0
    meta = summary.assets.get("consistency_findings")
    if meta is None:
        print(f"reconcile: run {summary.run_id} did not produce findings (see the Dagster run)", file=sys.stderr)
        return 1
    findings = judged_findings(summary.assets, meta["path"])
    if as_json:
        json.dump(findings_records(findings), sys.stdout, indent=2, default=str)
        print()
    else:
        print(findings_table(findings))
        failed_checks = [name for name, check in summary.checks.items() if not check["passed"]]
        fail, unknown = int((findings["status"] == "fail").sum()), int((findings["status"] == "unknown").sum())
        print(
            f"\nrun {summary.run_id} ({summary.scope}): {fail} failing, {unknown} unknown findings; "
            f"expectations not met: {', '.join(failed_checks) or 'none'}\nfindings: {meta['path']}"
        )
        print(alerts_line(summary.alerts))
    return 0 if summary.success else 1


def judged_findings(assets: dict, path: str) -> pd.DataFrame:
    """The run's findings without those on blocks read only as context of a scoped read (cadences.in_scope)."""
    from .cadences import in_scope

    findings = pd.read_parquet(path)
    kv_path = (assets.get("blockstore_kv") or {}).get("path")
    return in_scope(findings, {"blockstore_kv": pd.read_parquet(kv_path, columns=["key"])}) if kv_path else findings


def alerts_line(alerts: dict) -> str:
    if "error" in alerts:
        return f"alerts: not evaluated ({alerts['error']})"
    decisions = alerts.get("decisions") or {}
    opened, resolved = decisions.get("open", 0), decisions.get("resolve", 0)
    pending = decisions.get("pending", 0)
    return f"alerts: {opened} opened, {resolved} resolved, {pending} pending (under their threshold)"


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
    from .recording import rehydrated_block_numbers

    findings = run_block_checks(frames, settings, blocks=blocks)
    report = status_report(block_statuses(blocks, findings, rehydrated=rehydrated_block_numbers(settings)))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{'block':>6} {'kv':5} {'r2':5} {'ipfs':48} status")
    for block in report["blocks"]:
        ipfs = block["ipfs"] if isinstance(block["ipfs"], str) else str(block["ipfs"])
        print(f"{block['blockNumber']:>6} {block['kv']!s:5} {block['r2']!s:5} {ipfs:48} {block['status']}")
    print(f"total {report['totalBlocks']}: " + ", ".join(f"{k} {v}" for k, v in report["summary"].items()))
    return 0
