"""The sharded deep scan's memory (issue 8): ``python -m bench deep`` -> ``bench/results/deep.json``.

Two measurements, each in fresh processes (:mod:`bench.deep`):

1. ``real``: a served local world (``--deep-real-nfts`` NFTs, no latency, no faults): the peak RSS of an
   unsharded deep run, then of one shard run (shard 0 of ``--deep-real-shards``), both through Dagster in
   process, as ``reconcile run --cadence deep`` runs them. Building 100k/1M-NFT local worlds is too slow
   here, so this shows the cut on a small world only.
2. ``synthetic``: one shard's load + join + checks + metrics + GX at each world size (100k, 1M) with the
   same ``deep_shard_size`` (``n`` = the next power of two >= size / shard size), over bench/frames.py's
   frames filtered by the production shard function, once with only the shard's pins (what a deep shard run
   holds: ``deep/pinata_pins`` streams the pin list and keeps the CIDs its rows name) and once with Pinata's
   whole pin list, for comparison. Flat means: the 1M shard's peak within 1.2x of the 100k shard's.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from .proc import ROOT, ChildFailed, run_child
from .results import log, write_result

CHUNK = 50_000
FAULT_EVERY = 100
FLAT = 1.2
NOTES = {
    "real": "a served local world (its own process), no latency, no faults; each run in a fresh process "
    "through Dagster in process (run_scope, alerts off). run_peak_rss_mb: the run's VmHWM (reset after the "
    "imports: pandas, Dagster, GX); run_peak_above_imports_mb: what the run itself added.",
    "database": "the synthetic worlds' minting_operations in SQLite (built once); one shard's read "
    "(DatabaseClient.read_minting_operations(shard=...): the table streamed in chunks of 50,000 rows, the shard's "
    "rows kept as Arrow, one frame at the end), peak RSS above the imports, in a fresh process.",
    "synthetic": "bench/frames.py synthetic snapshot frames (no servers), read part by part and filtered with "
    "reconcile_pipeline.shards (operations by mint first byte; chain rows by the shard's mints and listing "
    "bytes; signatures and IPFS objects by the shard's rows); then join, NFT checks, metrics and the GX suite "
    "as the consistency assets run them. Blocks are not in these frames. stage_peak_rss_mb: each stage's "
    "VmHWM (reset before it). pins=shard: only the pins the shard's CIDs name (what a deep shard run holds: "
    "deep/pinata_pins streams the pin list and keeps those); pins=whole: the whole pin list, for comparison.",
}


def _child(function: str, **kwargs) -> dict:
    try:
        return run_child("deep", function, timeout_s=1800, **kwargs)
    except (subprocess.TimeoutExpired, ChildFailed) as exc:
        return {"error": str(exc)[-3000:]}


def measure_synthetic(cache: Path, sizes: list[int], shard_size: int) -> dict[str, dict]:
    from .frames import ensure_parts

    out: dict[str, dict] = {}
    for size in sizes:
        ensure_parts(cache, size, min(CHUNK, size), FAULT_EVERY, log=log)
        for pins in ("shard", "whole"):
            log(f"one shard of {size} NFTs (shard size {shard_size}, pins {pins}) ...")
            result = _child(
                "synthetic_shard",
                cache_dir=str(cache),
                nfts=size,
                chunk=min(CHUNK, size),
                fault_every=FAULT_EVERY,
                shard_size=shard_size,
                pins=pins,
            )
            log(f"{size}/{pins}: work peak {result.get('work_peak_rss_mb')} MB, load {result.get('load_peak_rss_mb')}")
            out[f"{size}/pins={pins}"] = result
    return out


def measure_all_shards(cache: Path, nfts: int, shard_size: int, workers: int = 2) -> dict:
    """Every shard of an ``nfts`` world, ``workers`` fresh processes at a time (as Dagster's multiprocess
    executor runs the deep scan's partitions on this machine): the join + checks + metrics + GX of all rows."""
    from concurrent.futures import ThreadPoolExecutor

    from reconcile_pipeline.shards import shard_count

    from .frames import ensure_parts

    ensure_parts(cache, nfts, min(CHUNK, nfts), FAULT_EVERY, log=log)
    count = shard_count(nfts, shard_size)
    log(f"all {count} shards of {nfts} NFTs, {workers} at a time ...")
    options = {"cache_dir": str(cache), "nfts": nfts, "chunk": min(CHUNK, nfts), "fault_every": FAULT_EVERY,
               "shard_size": shard_size, "pins": "shard", "keys": True}  # fmt: skip
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        shards = list(pool.map(lambda i: _child("synthetic_shard", shard_index=i, **options), range(count)))
    wall = time.perf_counter() - started
    work = [
        sum(r["timings_s"].get(k, 0.0) for k in ("join", "checks", "metrics", "gx")) for r in shards if "timings_s" in r
    ]
    peaks = sorted((r.get("peak_rss_mb", 0.0) for r in shards), reverse=True)
    union = _union(shards, _one_process_digest(cache, nfts))
    return {
        "nfts": nfts, "shards": count, "workers": workers, "errors": [r["error"] for r in shards if "error" in r],
        "rows": sum(r.get("rows", {}).get("nft_consistency", 0) for r in shards),
        "findings": union,
        "work_s_sum": round(sum(work), 2), "work_wall_s": round(sum(work) / workers, 2),
        "sweep_wall_s": round(wall, 2), "max_shard_peak_rss_mb": peaks[0] if peaks else None,
        "concurrent_peak_rss_mb": round(sum(peaks[:workers]), 1),
    }  # fmt: skip


def _union(shards: list[dict], one_process_digest: str | None) -> dict:
    """The shards' findings as a scan reports them: distinct (check, status, entity) keys. A CID named by
    rows of two shards (a chain URI naming another NFT's metadata) is judged, and reported, by both."""
    from .scale import digest_keys

    keys = [tuple(key) for r in shards for key in r.pop("finding_keys", [])]
    distinct = set(keys)
    digest = digest_keys(distinct)
    return {
        "reported": len(keys), "distinct": len(distinct), "repeated_across_shards": len(keys) - len(distinct),
        "union_digest": digest, "one_process_digest": one_process_digest,
        "union_equals_one_process": None if one_process_digest is None else digest == one_process_digest,
    }  # fmt: skip


def _one_process_digest(cache: Path, nfts: int) -> str | None:
    """The findings digest of ``python -m bench scale`` at ``nfts`` (the same frames: same cache, chunk and
    fault rate), from its results file; None when it has not been measured."""
    import json

    try:
        scale = json.loads((ROOT / "bench/results/scale.json").read_text())
    except (OSError, ValueError):
        return None
    return scale.get("sizes", {}).get(str(nfts), {}).get("findings", {}).get("digest")


def measure_db(cache: Path, sizes: list[int], shard_size: int) -> dict[str, dict]:
    from .deep import ensure_db

    out: dict[str, dict] = {}
    for size in sizes:
        log(f"one shard's database read of {size} operations ...")
        url = ensure_db(cache, size, min(CHUNK, size), FAULT_EVERY)
        out[str(size)] = _child("db_shard_read", url=url, nfts=size, shard_size=shard_size)
        log(f"{size}: read peak {out[str(size)].get('read_peak_rss_mb')} MB, kept {out[str(size)].get('rows_kept')}")
    return out


def measure_real(work_dir: Path, nfts: int, blocks: int, shards: int) -> dict[str, dict]:
    from .worldproc import WorldProcess

    directory = work_dir / f"world-deep-{nfts}"
    log(f"building a local world of {nfts} NFTs, {blocks} blocks (no latency) ...")
    with WorldProcess(directory, nfts=nfts, blocks=blocks, gateway_latency=0, rpc_latency=0, api_latency=0) as info:
        out = {"unsharded": _child("real_run", config=info.config)}
        log(f"unsharded: {out['unsharded'].get('run_peak_rss_mb')} MB")
        out[f"shard 0/{shards}"] = _child("real_run", config=info.config, shard=f"0/{shards}")
        log(f"shard 0/{shards}: {out[f'shard 0/{shards}'].get('run_peak_rss_mb')} MB")
    return out


def judge(synthetic: dict[str, dict], real: dict[str, dict], database: dict[str, dict] | None = None) -> dict:
    targets = {}
    reads = sorted((int(size), r) for size, r in (database or {}).items() if "read_peak_above_imports_mb" in r)
    if len(reads) >= 2:
        (small, first), (large, last) = reads[0], reads[-1]
        ratio = last["read_peak_above_imports_mb"] / max(first["read_peak_above_imports_mb"], 1.0)
        targets["deep_shard_db_read_flat"] = {
            "value": f"{ratio:.2f}x one shard's DB read peak (above imports) from {small} to {large} rows "
            f"({first['read_peak_above_imports_mb']} -> {last['read_peak_above_imports_mb']} MB)",
            "bound": f"flat (<= {FLAT}x)",
            "met": ratio <= FLAT,
        }
    for pins in ("shard",):  # what a shard run holds; pins=whole stays in the JSON as a comparison
        rows = sorted(
            (int(key.split("/")[0]), r)
            for key, r in synthetic.items()
            if key.endswith(pins) and "work_peak_rss_mb" in r
        )
        if len(rows) >= 2:
            (small, first), (large, last) = rows[0], rows[-1]
            peak = max(last["work_peak_rss_mb"], last["load_peak_rss_mb"])
            base = max(first["work_peak_rss_mb"], first["load_peak_rss_mb"])
            targets[f"deep_shard_memory_flat (pins={pins})"] = {
                "value": f"{peak / base:.2f}x one shard's peak from {small} to {large} NFTs ({base} -> {peak} MB)",
                "bound": f"flat (<= {FLAT}x)",
                "met": peak / base <= FLAT,
            }
    full, shard = real.get("unsharded", {}), next((r for k, r in real.items() if k.startswith("shard")), {})
    if "run_peak_above_imports_mb" in full and "run_peak_above_imports_mb" in shard:
        targets["real_world_shard_vs_whole"] = {
            "value": f"{shard['run_peak_above_imports_mb']} MB vs {full['run_peak_above_imports_mb']} MB above imports",
            "bound": "a shard run below the unsharded run",
            "met": shard["run_peak_above_imports_mb"] < full["run_peak_above_imports_mb"],
        }
    return targets


def judge_all_shards(result: dict) -> dict:
    """The 1M-row deep sweep as the deep scan runs it: its wall time end to end (every shard process started,
    its rows loaded, joined, checked and validated; issue 21's goal: 60 s on 2 workers) and its memory. The sum
    of the shards' join+checks+metrics+GX stage times is reported beside it, named as the sum it is."""
    if not result or result.get("errors") or "sweep_wall_s" not in result:
        return {}
    rows, shards, workers = result["rows"], result["shards"], result["workers"]
    return _judge_union(result.get("findings")) | {
        "sweep_wall_s": {
            "value": f"{result['sweep_wall_s']} s wall, end to end ({rows} rows as {shards} shard processes on "
            f"{workers} workers, loading included)",
            "bound": "<= 60 s", "met": result["sweep_wall_s"] <= 60,
        },
        "scale_1m_sharded_stage_sum": {
            "value": f"{result['work_s_sum']} s: join+checks+metrics+GX summed over the {shards} shards "
            "(a sum of stages, not a time)",
            "bound": "informational", "met": None,
        },
        "scale_1m_sharded_memory": {
            "value": f"{result['concurrent_peak_rss_mb']} MB ({workers} shard processes at once; one shard at most "
            f"{result['max_shard_peak_rss_mb']} MB)",
            "bound": "< 2048 MB", "met": result["concurrent_peak_rss_mb"] < 2048,
        },
    }  # fmt: skip


def _judge_union(findings: object) -> dict:
    """The shards together find what one process finds: the distinct findings' digest equals bench scale's."""
    if not isinstance(findings, dict) or findings.get("union_equals_one_process") is None:
        return {}
    return {
        "scale_1m_sharded_findings": {
            "value": f"{findings['distinct']} distinct findings, digest {findings['union_digest']} "
            f"({findings['repeated_across_shards']} repeated by a second shard)",
            "bound": f"the one-process run's findings (digest {findings['one_process_digest']})",
            "met": bool(findings["union_equals_one_process"]),
        }
    }


def run_deep_suite(args: argparse.Namespace) -> dict:
    """Both measurements; writes ``deep.json`` under ``args.results``. Optional args (defaults): deep_sizes
    ("100000,1000000"), deep_shard_size (100000), deep_real_nfts (5000), deep_real_blocks (1000),
    deep_real_shards (8), skip ("" or any of real, synthetic, database), cache_dir, work_dir, results."""
    sizes = [int(s) for s in str(getattr(args, "deep_sizes", "100000,1000000")).split(",") if s.strip()]
    shard_size = int(getattr(args, "deep_shard_size", 100_000))
    skip = set(str(getattr(args, "skip", "")).split(","))
    cache = _under_root(getattr(args, "cache_dir", "bench/.cache"))
    work_dir = _under_root(getattr(args, "work_dir", "bench/.work"))
    real_args = (
        int(getattr(args, "deep_real_nfts", 5000)),
        int(getattr(args, "deep_real_blocks", 1000)),
        int(getattr(args, "deep_real_shards", 8)),
    )
    results = getattr(args, "results", "bench/results")
    earlier = _earlier(results)  # a skipped part keeps its last measurement
    synthetic = earlier.get("synthetic", {}) if "synthetic" in skip else None
    real = earlier.get("real", {}) if "real" in skip else None
    if synthetic is None:
        synthetic = {"shard_size": shard_size, "sizes": measure_synthetic(cache, sizes, shard_size)}
    database = earlier.get("database", {}) if "database" in skip else None
    if database is None:
        database = {"shard_size": shard_size, "sizes": measure_db(cache, sizes, shard_size)}
    all_shards = earlier.get("all_shards", {}) if "all_shards" in skip else None
    if all_shards is None:
        all_shards = measure_all_shards(cache, max(sizes), shard_size)
    if real is None:
        runs = measure_real(work_dir, *real_args)
        real = {"nfts": real_args[0], "blocks": real_args[1], "shards": real_args[2], "runs": runs}
    payload = {
        "synthetic": synthetic,
        "database": database,
        "real": real,
        "all_shards": all_shards,
        "targets": judge(synthetic.get("sizes", {}), real.get("runs", {}), database.get("sizes", {}))
        | judge_all_shards(all_shards),
        "notes": NOTES,
    }
    path = write_result(results, "deep", payload)
    log(f"targets: {payload['targets']}\nwritten {path}")
    return payload


def _earlier(results: str) -> dict:
    import json

    path = _under_root(results) / "deep.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _under_root(folder: str) -> Path:
    return Path(folder) if Path(folder).is_absolute() else ROOT / folder


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.suite_deep", description=__doc__.split("\n")[0])
    parser.add_argument("--deep-sizes", default="100000,1000000")
    parser.add_argument("--deep-shard-size", type=int, default=100_000)
    parser.add_argument("--deep-real-nfts", type=int, default=5000)
    parser.add_argument("--deep-real-blocks", type=int, default=1000)
    parser.add_argument("--deep-real-shards", type=int, default=8)
    parser.add_argument("--skip", default="")
    parser.add_argument("--cache-dir", default="bench/.cache")
    parser.add_argument("--work-dir", default="bench/.work")
    parser.add_argument("--results", default="bench/results")
    run_deep_suite(parser.parse_args())


if __name__ == "__main__":
    main()
