"""The `reconcile run` and `reconcile blocks status` commands (argument parsing lives in cli.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import pandas as pd

from . import execution
from .checks.findings import findings_records
from .outcome import FAILING, OK, outcome_of
from .progress import finish, make_progress
from .settings import SettingsError, load_settings

CADENCES = ("immediate", "frequent", "regular", "deep")


def findings_table(findings: pd.DataFrame) -> str:
    if findings.empty:
        return "no findings"
    counts = findings.groupby(["check_id", "status", "severity"]).size().reset_index(name="count")
    lines = [f"{'check':38} {'status':8} {'severity':9} count"]
    lines += [f"{r.check_id:38} {r.status:8} {r.severity:9} {r.count:5}" for r in counts.itertuples()]
    return "\n".join(lines)


def run_command(
    config: str | None,
    cadence: str,
    as_json: bool,
    shard: str | None = None,
    *,
    ephemeral: bool = False,
    quiet: bool = False,
    exit_zero: bool = False,
) -> int:
    """One reconciliation over the cadence's scope (as its schedule or sensor runs it), then its alerts.

    The deep cadence runs every shard of the deep scan in sequence (or ``shard``, ``INDEX/COUNT``, alone)
    and prints the union of their findings. The runs are recorded in the Dagster instance of
    ``DAGSTER_HOME`` (:mod:`.execution`; ``ephemeral``: in none); on a terminal, progress goes to stderr
    (:mod:`.progress`) unless ``quiet``. Exit status (:mod:`.outcome`): 0 all judged, none failing; 1 a
    failing finding or a failed run; 2 usage or settings; 3 nothing failing but some checks unknown.
    ``exit_zero``: 0 whatever the findings (1 only for a failed run), as before exit statuses existed."""
    from .runner import deep_summary, run_cadence, run_deep
    from .shards import Shard

    load_settings(config)  # bad settings: a clear error before anything starts
    if shard is not None and cadence != "deep":
        print("reconcile: --shard goes with --cadence deep only", file=sys.stderr)
        return 2
    try:
        one_shard = None if shard is None else Shard.parse(shard)
    except ValueError as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 2
    progress = make_progress(quiet)
    with execution.using(ephemeral=ephemeral, listener=progress), progress or contextlib.nullcontext():
        summary = deep_summary(run_deep(config, one_shard)) if one_shard else run_cadence(config, cadence)
    finish(progress)
    if summary is None:
        print("[]" if as_json else f"{cadence}: no new event since the last run, nothing to verify")
        return 0
    runs = summary.shards or [summary]
    missing = [run.run_id for run in runs if "consistency_findings" not in run.assets]
    if missing:
        print(f"reconcile: run {missing[0]} did not produce findings (see the Dagster run)", file=sys.stderr)
        return 1
    meta = summary.assets["consistency_findings"]
    parts = [judged_findings(run.assets, run.assets["consistency_findings"]["path"]) for run in runs]
    findings = parts[0]
    if len(parts) > 1:  # a CID or a level (SOURCE_MISSING_ACTIVE_NFT) two shards' rows name: once in the union
        keys = ["check_id", "entity_type", "entity_id", "status"]
        findings = pd.concat(parts, ignore_index=True).drop_duplicates(keys, ignore_index=True)
    outcome = outcome_of(findings)
    if as_json:
        json.dump(findings_records(findings), sys.stdout, indent=2, default=str)
        print()
    else:
        print(findings_table(findings))
        failed_checks = [name for name, check in summary.checks.items() if not check["passed"]]
        print(
            f"\nrun {summary.run_id} ({summary.scope}): {outcome.failing} failing, {outcome.unknown} unknown "
            f"findings; expectations not met: {', '.join(failed_checks) or 'none'}\nfindings: {meta['path']}"
        )
        print(alerts_line(summary.alerts))
    if not summary.success:
        return FAILING
    code = OK if exit_zero else outcome.exit_code
    print(f"reconcile: exit {code}: {outcome.describe()}" + (" (--exit-zero)" if exit_zero else ""), file=sys.stderr)
    return code


def judged_findings(assets: dict, path: str) -> pd.DataFrame:
    """The run's findings without those on blocks read only as context of a scoped read (cadences.in_scope),
    nor, from a shard other than the home shard, those on the whole population (cadences.home_entities_only)."""
    from .cadences import deep_scope, home_entities_only, in_scope, manual_scope
    from .shards import Shard

    findings = pd.read_parquet(path)
    kv_path = (assets.get("blockstore_kv") or {}).get("path")
    if kv_path:
        findings = in_scope(findings, {"blockstore_kv": pd.read_parquet(kv_path, columns=["key"])})
    shard = (assets.get("consistency_findings") or {}).get("shard")
    return home_entities_only(findings, deep_scope(Shard.parse(shard)) if shard else manual_scope())


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


BLOCK_STORE_SETTINGS = {  # what `blocks status` cannot do without (defaults are empty)
    "kv_account_id": "the Cloudflare account of the KV namespace",
    "kv_namespace_id": "the KV namespace holding the blocks",
    "r2_endpoint_url": "R2's S3 endpoint, https://ACCOUNT_ID.r2.cloudflarestorage.com",
}


def require_block_store(settings) -> None:
    """SettingsError naming each ``[blockstore]`` setting that is empty but needed to read KV and R2."""
    empty = [name for name in BLOCK_STORE_SETTINGS if not getattr(settings.blockstore, name)]
    if empty:
        problems = "; ".join(f"[blockstore] {name}: not set ({BLOCK_STORE_SETTINGS[name]})" for name in empty)
        raise SettingsError(f"bad settings: {problems}")


def blocks_status_command(config: str | None, as_json: bool) -> int:
    """Seed 004's GET /api/storage-verify/status: per-block tier presence, complete or not, and a summary.

    A tier that could not be read is named (``unreadable``) and the exit code is 3 (unknown) unless some block
    is known incomplete (1); 0 only when every block was judged and is complete."""
    from .checks.block_checks import run_block_checks
    from .checks.block_join import build_block_consistency
    from .checks.block_status import block_statuses, status_exit_code, status_report, unreadable_tiers
    from .recording import rehydrated_block_numbers

    settings = load_settings(config)
    require_block_store(settings)
    frames = asyncio.run(_block_frames(settings))
    blocks = build_block_consistency(frames, settings)
    unreadable = unreadable_tiers(frames)
    findings = run_block_checks(frames, settings, blocks=blocks)
    statuses = block_statuses(blocks, findings, rehydrated=rehydrated_block_numbers(settings))
    report = status_report(statuses, unreadable)
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_block_status(report)
    for tier, reason in unreadable.items():
        print(f"reconcile: {tier} could not be read: {reason}", file=sys.stderr)
    return status_exit_code(report)


def _print_block_status(report: dict) -> None:
    print(f"{'block':>6} {'kv':5} {'r2':5} {'ipfs':48} status")
    for block in report["blocks"]:
        ipfs = block["ipfs"] if isinstance(block["ipfs"], str) else str(block["ipfs"])
        why = f"  ({block['reason']})" if block.get("reason") else ""
        print(f"{block['blockNumber']:>6} {block['kv']!s:5} {block['r2']!s:5} {ipfs:48} {block['status']}{why}")
    for tier, reason in report["unreadable"].items():
        print(f"{tier}: could not be read ({reason})")
    total = report["totalBlocks"]
    label = f"total {total}" if total is not None else "total unknown (KV, which lists the blocks, could not be read)"
    print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in report["summary"].items()))
