"""The targets without latency (issue 8, item 3): join + checks + GX suites at 100k .. 1M NFT rows.

For each size, :mod:`bench.frames` makes (once) synthetic snapshot frames and :mod:`bench.scale` measures,
in a fresh process, the consistency stages' time and peak memory. Targets: at 1,000,000 rows the work
(join, checks, metrics, GX import and validation) under 30 s and the process under 2 GB; the peak memory
flat from 100k to 1M (what the deep cadence needs; nothing is partitioned today, so this records how
the unpartitioned path grows).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from .frames import ensure_parts
from .proc import ROOT, ChildFailed, run_child
from .results import log, write_result

CHUNK = 50_000
FAULT_EVERY = 100
TARGET_ROWS, TARGET_S, TARGET_MB = 1_000_000, 30.0, 2048.0
CHILD_TIMEOUT_S = 900


def measure_sizes(sizes: list[int], cache: Path, chunk: int = CHUNK, gx: bool = True) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for size in sizes:
        step = min(chunk, size)
        ensure_parts(cache, size, step, FAULT_EVERY, log=log)
        log(f"measuring {size} NFT rows ...")
        try:
            result = run_child(
                "scale",
                "measure",
                timeout_s=CHILD_TIMEOUT_S,
                cache_dir=str(cache),
                nfts=size,
                chunk=step,
                fault_every=FAULT_EVERY,
                gx=gx,
            )
        except subprocess.TimeoutExpired:
            result = {"nfts": size, "error": f"did not finish within {CHILD_TIMEOUT_S} s"}
        except ChildFailed as exc:
            result = {"nfts": size, "error": str(exc)[-3000:]}
        log(
            f"{size}: work {result.get('wall_s')} s, peak {result.get('peak_rss_mb')} MB, "
            f"timings {result.get('timings_s')}"
        )
        out[str(size)] = result
    return out


def judge(results: dict[str, dict]) -> dict:
    targets: dict[str, dict] = {}
    for result in results.values():  # the process's peak is the largest stage peak (VmHWM is reset per stage)
        if "stage_peak_rss_mb" in result:
            result["peak_rss_mb"] = max(result["stage_peak_rss_mb"].values())
    top = results.get(str(TARGET_ROWS), {})
    if "wall_s" in top:
        time_met = top["wall_s"] < TARGET_S
        targets["scale_1m_one_process_time"] = {"value": top["wall_s"], "bound": f"< {TARGET_S} s", "met": time_met}
        targets["scale_1m_one_process_memory"] = {
            "value": top["peak_rss_mb"],
            "bound": f"< {TARGET_MB} MB",
            "met": top["peak_rss_mb"] < TARGET_MB,
        }
    return targets


def run_scale_suite(args: argparse.Namespace) -> dict:
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    cache = Path(args.cache_dir) if Path(args.cache_dir).is_absolute() else ROOT / args.cache_dir
    results = measure_sizes(sizes, cache)
    payload = {
        "sizes": results,
        "targets": judge(results),
        "notes": {
            "frames": f"synthetic, from the world builder; 1 NFT in {FAULT_EVERY} with a chain-URI "
            "fault, 1 in {FAULT_EVERY} unpinned (frames read from Parquet first)",
            "wall_s": "join + checks + metrics + GX import + GX validation (read_parquet apart)",
            "peak_rss_mb": "whole process (ru_maxrss), inputs included",
            "one_process": "all 1M rows in one process, unsharded; the deep scan runs them as shards "
            "(python -m bench deep: scale_1m_sharded_*)",
        },
    }
    path = write_result(args.results, "scale", payload)
    log(f"targets: {payload['targets']}\nwritten {path}")
    return payload
