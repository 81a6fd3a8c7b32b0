"""The targets measured on a world with injected latency (issue 8, item 2).

Steps, each in a fresh process against the same served world (counters reset before each):

- ``baseline``: :mod:`bench.baseline` on a sample, extrapolated linearly to the whole world;
- ``regular``: a regular run through ``runner.run_reconciliation`` on a cold world (first run);
- ``second``: the same again on the unchanged world (content already verified);
- ``snapshots``: ``collect_snapshots`` alone in regular mode (I/O without Dagster, joins and checks);
- ``deep`` (with ``--with-deep``): a deep run (every gateway, every byte), for its time and peak memory;
- ``second_wide`` (with ``--wide N``): the warm regular run again with ``max_concurrency_per_host = N``;
- ``ratelimit``: the Solana snapshots with a small token bucket (``--rate-limit`` per ``--rate-window`` s)
  and no update authority, so every account is read by ``getMultipleAccounts``: the server-side request
  log says whether the limit held and how many RPC requests the batching took.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from dataclasses import asdict
from pathlib import Path

from reconcile_pipeline.sandbox.toml import toml_dumps

from . import worldproc
from .counters import max_in_window
from .proc import ROOT, ChildFailed, run_child
from .results import log, write_result
from .world import WorldInfo, apply_overrides

STEPS = ("baseline", "regular", "second", "snapshots", "ratelimit", "deep", "second_wide")
GATEWAYS = ("gw0", "gw1", "gw2")


def measured(info: WorldInfo, module: str, function: str, **kwargs: object) -> dict:
    """Run one measurement with zeroed server counters; its result plus what every server saw."""
    worldproc.reset(info)
    result = run_child(module, function, **kwargs)
    servers = worldproc.stats(info)
    return {
        "result": result,
        "servers": servers,
        "totals": totals(servers),
        "solana_times": worldproc.request_times(info, "solana"),
    }


def totals(servers: dict) -> dict:
    return {
        "requests": {name: s["requests"] for name, s in servers.items()},
        "bytes_sent": {name: s["bytes_sent"] for name, s in servers.items()},
        "gateway_get_requests": sum(s["by_kind"].get("GET /ipfs", 0) for n, s in servers.items() if n in GATEWAYS),
        "gateway_head_requests": sum(s["by_kind"].get("HEAD /ipfs", 0) for n, s in servers.items() if n in GATEWAYS),
        "gateway_bytes": sum(s["bytes_sent"] for n, s in servers.items() if n in GATEWAYS),
        "solana_rpc_calls": servers.get("solana", {}).get("rpc_calls", {}),
    }


def rpc_bound(accounts: int, signatures: int) -> float:
    return 1.1 * (math.ceil(accounts / 100) + math.ceil(signatures / 256))


def rate_check(times: list[float], limit: int, window_s: float) -> dict:
    busiest = max_in_window(times, window_s)
    return {
        "requests": len(times),
        "limit": limit,
        "window_s": window_s,
        "max_in_any_window": busiest,
        "met": busiest <= limit,
    }


def variant_config(info: WorldInfo, name: str, overrides: dict) -> str:
    document = tomllib.loads(Path(info.config).read_text())
    path = Path(info.directory) / f"bench-{name}.toml"
    path.write_text(toml_dumps(apply_overrides(document, overrides)))
    return str(path)


def step_baseline(info: WorldInfo, args: argparse.Namespace) -> dict:
    sample_nfts, sample_blocks = min(args.baseline_sample, info.nfts), min(args.baseline_sample, info.blocks)
    return measured(
        info,
        "baseline",
        "measure",
        config=info.config,
        nfts=sample_nfts,
        blocks=sample_blocks,
        world_nfts=info.nfts,
        world_blocks=info.blocks,
    )


def step_regular(info: WorldInfo, args: argparse.Namespace) -> dict:
    """A regular run, as ``reconcile run --cadence regular`` runs it."""
    out = measured(info, "regular", "reconcile_run", config=info.config, cadence="regular")
    settings = tomllib.loads(Path(info.config).read_text()).get("solana", {})
    limit, window = settings.get("requests_per_window", 100), settings.get("window_s", 10.0)
    out["rate"] = rate_check(out["solana_times"], limit, window)
    return out


def step_deep(info: WorldInfo, args: argparse.Namespace) -> dict:
    return measured(info, "regular", "reconcile_run", config=info.config, cadence="deep")


def step_second_wide(info: WorldInfo, args: argparse.Namespace) -> dict:
    """A warm regular run with ``http.max_concurrency_per_host`` raised (``--wide N``): without the
    per-host floor, what is left is the measured process's CPU."""
    config = variant_config(info, "wide", {"http.max_concurrency_per_host": args.wide})
    out = measured(info, "regular", "reconcile_run", config=config, cadence="regular")
    out["max_concurrency_per_host"] = args.wide
    return out


def step_snapshots(info: WorldInfo, args: argparse.Namespace) -> dict:
    return measured(info, "regular", "snapshots_only", config=info.config, ipfs_mode="regular")


def step_ratelimit(info: WorldInfo, args: argparse.Namespace) -> dict:
    overrides = {
        "solana.requests_per_window": args.rate_limit,
        "solana.window_s": args.rate_window,
        "solana.update_authority": "",
    }
    config = variant_config(info, "ratelimit", overrides)
    out = measured(info, "regular", "solana_snapshots", config=config)
    out["rate"] = rate_check(out["solana_times"], args.rate_limit, args.rate_window)
    return out


STEP_FUNCTIONS = {
    "baseline": step_baseline,
    "regular": step_regular,
    "second": step_regular,
    "snapshots": step_snapshots,
    "ratelimit": step_ratelimit,
    "deep": step_deep,
    "second_wide": step_second_wide,
}


def judge(steps: dict, info: WorldInfo) -> dict:
    """Each target: the measured value, the bound, met or not (None where the step was skipped)."""
    targets: dict[str, dict] = {}
    base = steps.get("baseline", {}).get("result", {}).get("extrapolated_wall_s")
    for name in ("regular", "second", "second_wide"):
        run = steps.get(name, {}).get("result", {})
        if base and run.get("wall_s"):
            speedup = base / run["wall_s"]
            targets[f"speedup_{name}"] = {"value": round(speedup, 1), "bound": ">= 50", "met": speedup >= 50}
    bound = rpc_bound(info.accounts, info.signatures)
    for name in ("regular", "ratelimit"):
        if name in steps:
            count = steps[name]["totals"]["requests"]["solana"]
            targets[f"rpc_requests_{name}"] = {"value": count, "bound": f"<= {bound:.1f}", "met": count <= bound}
    if "second" in steps:
        moved = steps["second"]["totals"]["gateway_bytes"]
        targets["second_run_gateway_bytes"] = {"value": moved, "bound": "== 0", "met": moved == 0}
    for name in ("regular", "ratelimit"):
        if "rate" in steps.get(name, {}):
            rate = steps[name]["rate"]
            targets[f"rate_limit_{name}"] = {
                "value": rate["max_in_any_window"],
                "bound": f"<= {rate['limit']} per {rate['window_s']} s",
                "met": rate["met"],
            }
    return targets


def run_latency_suite(args: argparse.Namespace) -> dict:
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    skip |= (set() if args.with_deep else {"deep"}) | (set() if args.wide else {"second_wide"})
    process = None
    if args.world:
        info = WorldInfo.load(args.world)
    else:
        directory = ROOT / args.work_dir / f"world-{args.nfts}x{args.blocks}"
        log(f"building the world ({args.nfts} NFTs, {args.blocks} blocks) in {directory}")
        process = worldproc.WorldProcess(
            directory,
            nfts=args.nfts,
            blocks=args.blocks,
            faults=args.faults,
            gateway_latency=args.gateway_latency,
            rpc_latency=args.rpc_latency,
            api_latency=args.api_latency,
        )
        info = process.start()
        log(f"world ready in {info.build_s} s")
    steps: dict[str, dict] = {}
    errors: dict[str, str] = {}
    try:
        for name in STEPS:
            if name in skip:
                continue
            log(f"step {name} ...")
            try:
                steps[name] = STEP_FUNCTIONS[name](info, args)
            except ChildFailed as exc:  # the tree may be mid-change: record it, measure the rest
                log(f"step {name} failed: {str(exc)[-600:]}")
                errors[name] = str(exc)[-4000:]
                continue
            times = steps[name].pop("solana_times", [])
            steps[name]["solana_request_offsets_s"] = [round(t - times[0], 3) for t in sorted(times)] if times else []
            log(f"step {name}: {steps[name]['result'].get('wall_s')} s, requests {steps[name]['totals']['requests']}")
    finally:
        if process is not None:
            process.stop()
    payload = {
        "world": asdict(info),
        "steps": steps,
        "errors": errors,
        "targets": judge(steps, info),
        "notes": {"baseline": "measured on a sample and extrapolated linearly (per-record time x records)"},
    }
    path = write_result(args.results, f"latency-{info.nfts}x{info.blocks}", payload)
    log(f"targets: {payload['targets']}\nwritten {path}")
    return payload
