"""``python -m bench`` (and ``reconcile bench``): the benchmark runner's subcommands.

world     build one world and serve it until SIGTERM (used by the others; reusable with --world)
latency   the targets on a world with injected latency (speed-up over the baseline, RPC requests,
          second-run bytes, rate limit)
scale     join + checks + GX suites over synthetic NFT frames (100k .. 1M rows), no servers
deep      the sharded deep scan: one shard's memory as the world grows (100k -> 1M), every shard of 1M rows
          on 2 worker processes, a real world's shard run against the unsharded run
hashing   source-image hashing against hashlib's raw SHA-256
replicas  the replica row diff against reladiff on two PostgreSQL databases (1M rows; 0, 1, 1,000 differing)
table     rewrite the table in bench/README.md from bench/results/*.json
all       latency, scale, deep and hashing; writes bench/results/*.json and the README table
"""

from __future__ import annotations

import argparse
import json

from reconcile_pipeline.sandbox.build import resolve_faults
from reconcile_pipeline.sandbox.worlddata import WorldSpec


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def cmd_world(args: argparse.Namespace) -> int:
    from .world import Latency, serve

    spec = WorldSpec(seed=args.seed, nfts=args.nfts, blocks=args.blocks, faults=resolve_faults(args.faults))
    latency = Latency(gateway=args.gateway_latency, rpc=args.rpc_latency, api=args.api_latency)
    return serve(spec, args.dir, latency, _overrides(args.set))


def cmd_latency(args: argparse.Namespace) -> int:
    from .suite_latency import run_latency_suite

    run_latency_suite(args)
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from .suite_scale import run_scale_suite

    run_scale_suite(args)
    return 0


def cmd_deep(args: argparse.Namespace) -> int:
    from .suite_deep import run_deep_suite

    run_deep_suite(args)
    return 0


def cmd_hashing(args: argparse.Namespace) -> int:
    from .suite_hashing import run_hashing_suite

    run_hashing_suite(args)
    return 0


def cmd_replicas(args: argparse.Namespace) -> int:
    from .suite_replicas import run_replicas_suite

    run_replicas_suite(args)
    return 0


def cmd_all(args: argparse.Namespace) -> int:
    for command in (cmd_latency, cmd_scale, cmd_deep, cmd_hashing):
        command(args)
    return cmd_table(args)


def cmd_table(args: argparse.Namespace) -> int:
    from .readme import render

    print(f"written {render(args.results)}")
    return 0


def _world_args(parser: argparse.ArgumentParser, nfts: int, blocks: int) -> None:
    parser.add_argument("--nfts", type=int, default=nfts)
    parser.add_argument("--blocks", type=int, default=blocks)
    parser.add_argument("--faults", default="none", help="all | none | catalogue ids (default none: a clean world)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gateway-latency", type=float, default=0.1, help="seconds per gateway/Pinata request")
    parser.add_argument("--rpc-latency", type=float, default=0.05, help="seconds per Solana RPC request")
    parser.add_argument("--api-latency", type=float, default=0.05, help="seconds per KV / R2 request")


def _latency_args(parser: argparse.ArgumentParser) -> None:
    _world_args(parser, 10_000, 10_000)
    parser.add_argument("--work-dir", default="bench/.work", help="worlds and run data (default bench/.work)")
    parser.add_argument("--world", default=None, help="world.json of a world already served (reuse it)")
    parser.add_argument("--baseline-sample", type=int, default=500, help="records the baseline reads per kind")
    parser.add_argument("--rate-window", type=float, default=2.0, help="token-bucket window of the rate-limit run")
    parser.add_argument("--rate-limit", type=int, default=20, help="requests per window in the rate-limit run")
    parser.add_argument("--wide", type=int, default=0, help="also a warm regular run with this per-host concurrency")
    parser.add_argument("--with-deep", action="store_true", help="also measure a deep run (every byte, every gateway)")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip (baseline,regular,second,...)")


def _scale_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="100000,300000,1000000", help="NFT rows (comma-separated)")
    parser.add_argument("--cache-dir", default="bench/.cache", help="where generated frames are kept")


def _deep_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deep-sizes", default="100000,1000000", help="world sizes (NFTs) of the one-shard runs")
    parser.add_argument("--deep-shard-size", type=int, default=100_000, help="[reconciliation] deep_shard_size")
    parser.add_argument("--deep-real-nfts", type=int, default=5000, help="NFTs of the real local world")
    parser.add_argument("--deep-real-blocks", type=int, default=1000, help="blocks of the real local world")
    parser.add_argument("--deep-real-shards", type=int, default=8, help="shards of the real world's shard run")


def _hashing_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hash-mb", type=int, default=256, help="MiB hashed per method")


def _replicas_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replica-rows", type=int, default=1_000_000, help="rows of the primary table")
    parser.add_argument("--replica-differences", default="0,1,1000", help="differing rows per case")


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", default="bench/results", help="folder for the JSON results")
    commands = parser.add_subparsers(dest="command", required=True)
    world = commands.add_parser("world", help="build a world and serve it until SIGTERM")
    _world_args(world, 1000, 1000)
    world.add_argument("--dir", required=True)
    world.add_argument("--set", action="append", default=[], help="settings override, e.g. solana.window_s=2")
    world.set_defaults(handler=cmd_world)
    latency = commands.add_parser("latency", help="targets on a world with injected latency")
    _latency_args(latency)
    latency.set_defaults(handler=cmd_latency)
    scale = commands.add_parser("scale", help="join, checks and GX over synthetic frames (no servers)")
    _scale_args(scale)
    scale.set_defaults(handler=cmd_scale)
    deep = commands.add_parser("deep", help="the sharded deep scan's memory and the 1M rows in shards")
    _deep_args(deep)
    deep.add_argument("--skip", default="", help="parts to skip (real,synthetic,database,all_shards): kept as before")
    deep.add_argument("--cache-dir", default="bench/.cache", help="where generated frames are kept")
    deep.add_argument("--work-dir", default="bench/.work", help="worlds and run data (default bench/.work)")
    deep.set_defaults(handler=cmd_deep)
    hashing = commands.add_parser("hashing", help="source-image hashing against hashlib")
    _hashing_args(hashing)
    hashing.set_defaults(handler=cmd_hashing)
    replicas = commands.add_parser("replicas", help="the replica row diff against reladiff (PostgreSQL)")
    _replicas_args(replicas)
    replicas.set_defaults(handler=cmd_replicas)
    commands.add_parser("table", help="rewrite bench/README.md's table from the results").set_defaults(
        handler=cmd_table
    )
    everything = commands.add_parser("all", help="latency, scale, deep and hashing")
    _latency_args(everything)
    _scale_args(everything)
    _deep_args(everything)
    _hashing_args(everything)
    everything.set_defaults(handler=cmd_all)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    """``prog``: the command's name in usage and help (``reconcile bench`` when run through the CLI)."""
    args = build_parser(prog).parse_args(argv)
    return args.handler(args)
