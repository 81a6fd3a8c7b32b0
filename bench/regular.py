"""Pipeline measurements against the bench world, each called in a fresh process (:mod:`bench.proc`).

- :func:`reconcile_run`: a whole run through the public entry point of ``reconcile run --cadence C``
  (``runner.run_cadence``: the cadence's scope, Dagster in process, Parquet IO, every snapshot, join,
  check, GX suite, findings recorded, alerts; ``runner.run_reconciliation`` where there are no cadences);
- :func:`snapshots_only`: ``snapshots.collect.collect_snapshots`` (every snapshot, no Dagster), to
  split I/O time from Dagster and check time.
"""

from __future__ import annotations

import time


def reconcile_run(config: str, cadence: str = "regular") -> dict:
    started = time.perf_counter()
    from reconcile_pipeline import runner

    imported = time.perf_counter()
    if hasattr(runner, "run_cadence"):
        summary, entry = runner.run_cadence(config, cadence), "runner.run_cadence"
    else:
        summary, entry = runner.run_reconciliation(config, cadence=cadence), "runner.run_reconciliation"
    finished = time.perf_counter()
    findings = summary.assets.get("consistency_findings", {})
    return {
        "cadence": cadence,
        "entry_point": entry,
        "scope": getattr(summary, "scope", ""),
        "success": summary.success,
        "wall_s": round(finished - imported, 2),
        "import_s": round(imported - started, 2),
        "rows": {name: meta.get("dagster/row_count") for name, meta in summary.assets.items()},
        "fail": findings.get("fail"),
        "unknown": findings.get("unknown"),
        "checks_failed": sorted(name for name, check in summary.checks.items() if not check["passed"]),
    }


def snapshots_only(config: str, ipfs_mode: str = "regular") -> dict:
    from reconcile_pipeline.settings import load_settings
    from reconcile_pipeline.snapshots.collect import collect_snapshots

    settings = load_settings(config)
    started = time.perf_counter()
    snapshots = collect_snapshots(settings, ipfs_mode=ipfs_mode)
    return {
        "ipfs_mode": ipfs_mode,
        "wall_s": round(time.perf_counter() - started, 2),
        "rows": {name: len(snap.frame) for name, snap in snapshots.items()},
        "read_status": {name: snap.status.status for name, snap in snapshots.items()},
    }


def solana_snapshots(config: str) -> dict:
    """The two Solana snapshots, concurrently, as ``collect_snapshots`` runs them (the rate-limit step)."""
    import asyncio

    from reconcile_pipeline.settings import load_settings
    from reconcile_pipeline.snapshots import nft

    settings = load_settings(config)
    ops = nft.snapshot_table(settings, "read_minting_operations").frame

    async def both():
        return await asyncio.gather(
            nft.snapshot_chain_metadata(settings, ops["mint_address"].dropna().tolist()),
            nft.snapshot_tx_statuses(settings, ops["transaction_signature"].dropna().tolist()),
        )

    started = time.perf_counter()
    chain, txs = asyncio.run(both())
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "started_monotonic": started,
        "rows": {"solana_metadata_accounts": len(chain.frame), "solana_transaction_statuses": len(txs.frame)},
        "read_status": {"chain": chain.status.status, "tx": txs.status.status},
        "limit": {"requests_per_window": settings.solana.requests_per_window, "window_s": settings.solana.window_s},
    }
