"""The `reconcile` command: prove that the NFT platform's layers and block store agree, repair, alert."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from . import cli_alerts, cli_bench, cli_repair, cli_report, cli_retention, cli_verify
from .outcome import EXIT_CODES_HELP
from .sandbox.build import ALL_FAULTS, nft_count, resolve_faults
from .sandbox.ipfs import ABSENT_MODES, RAW_MODES
from .sandbox.worlddata import WorldSpec

CADENCES = ("immediate", "frequent", "regular", "deep")


def _spec(args: argparse.Namespace) -> WorldSpec:
    return WorldSpec(
        seed=args.seed,
        nfts=args.nfts,
        blocks=args.blocks,
        faults=resolve_faults(args.faults),
        gateway_absent=args.gateway_absent,
        gateway_raw=args.gateway_raw,
    )


def _world_args(parser: argparse.ArgumentParser, nfts: int, blocks: int, faults: str, kept: str) -> None:
    parser.add_argument(
        "--nfts", type=int, default=nfts, help=f"number of NFTs (default {nfts}; the DB_DUPLICATE_MINT fault adds one)"
    )
    parser.add_argument("--blocks", type=int, default=blocks, help=f"number of VDC blocks (default {blocks})")
    parser.add_argument("--faults", default=faults, help="all | none | comma-separated fault ids")
    parser.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    parser.add_argument(
        "--dir", default=None, help=f"folder for the world's files (default: a temporary folder, {kept})"
    )
    parser.add_argument(
        "--gateway-absent", choices=ABSENT_MODES, default="504",
        help="how the gateways answer content they lack, as real ones do (default 504)",
    )  # fmt: skip
    parser.add_argument(
        "--gateway-raw", choices=RAW_MODES, default="block",
        help="a raw (?format=raw) request gets the root block (Helia, Kubo) or the whole file (js-ipfs)",
    )  # fmt: skip


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def cmd_world_up(args: argparse.Namespace) -> int:
    from .sandbox.world import LocalWorld

    directory = args.dir or tempfile.mkdtemp(prefix="reconcile-world-")
    world = LocalWorld(_spec(args), directory, db_url=args.db_url)
    with world:
        world.write_config(args.config)
        manifest = world.write_manifest(args.manifest)
        data = world.data
        print(f"world up: {nft_count(data)}, {len(data.blocks)} blocks, {len(data.faults)} faults injected")
        for name, url in world.servers.endpoints().items():
            print(f"  {name:7} {url}")
        print(f"config:   {Path(args.config).resolve()}\nmanifest: {manifest.resolve()}\nfiles:    {directory}")
        print("Ctrl-C or SIGTERM stops the servers.", flush=True)
        _wait_for_signal()
    print("world stopped")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(_spec(args), args.dir)


def cmd_run(args: argparse.Namespace) -> int:
    from .commands import run_command

    return run_command(
        args.config, args.cadence, args.json, shard=args.shard, ephemeral=args.ephemeral, quiet=args.quiet,
        exit_zero=args.exit_zero,
    )  # fmt: skip


def cmd_blocks_status(args: argparse.Namespace) -> int:
    from .commands import blocks_status_command

    return blocks_status_command(args.config, args.json)


def cmd_ui(args: argparse.Namespace) -> int:
    from .ui import run_ui

    return run_ui(args.config, host=args.host, port=args.port, instance=args.instance)


def run_options(parser: argparse.ArgumentParser) -> None:
    """--quiet and --ephemeral, for the commands that run the pipeline in process."""
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr (shown only on a terminal)")
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="record the run in no Dagster instance (default: the one DAGSTER_HOME names, else .dagster_home)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconcile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    world = commands.add_parser("world", help="serve a local world (every layer on loopback)").add_subparsers(
        dest="world_command", required=True
    )
    up = world.add_parser("up", help="start the local world's servers until SIGINT/SIGTERM")
    _world_args(up, nfts=40, blocks=20, faults="all", kept="kept")
    up.add_argument("--config", required=True, help="write the pipeline's settings (TOML) here")
    up.add_argument("--manifest", required=True, help="write the ground-truth fault manifest (JSON) here")
    up.add_argument("--db-url", default=None, help="database URL for the world (default: SQLite in --dir)")
    up.set_defaults(handler=cmd_world_up)
    demo = commands.add_parser("demo", help="build a faulty local world, reconcile it, summarize")
    _world_args(demo, nfts=24, blocks=16, faults="all", kept="removed at the end")
    demo.set_defaults(handler=cmd_demo)
    run = commands.add_parser(
        "run",
        help="read every layer, run every check, print the findings",
        description="Snapshot the layers in the cadence's scope, run every check, record and print the findings.",
        epilog=EXIT_CODES_HELP,
    )
    run.add_argument(
        "--cadence",
        choices=CADENCES,
        default="regular",
        metavar="CADENCE",
        help=f"whose scope to read, as its schedule does: {', '.join(CADENCES)} (default: regular)",
    )
    run.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")
    run.add_argument("--json", action="store_true", help="print the findings as one JSON array")
    run.add_argument(
        "--shard", default=None, help="deep cadence only: one shard INDEX/COUNT (e.g. 3/8); default: every shard"
    )
    run_options(run)
    run.add_argument(
        "--exit-zero", action="store_true", help="exit 0 whatever the findings (1 only if the run itself failed)"
    )
    run.set_defaults(handler=cmd_run)
    blocks = commands.add_parser("blocks", help="the VDC block store: per-block tier status").add_subparsers(
        dest="blocks_command", required=True
    )
    status = blocks.add_parser("status", help="per-block tier presence and status (seed 004's status endpoint)")
    status.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    status.set_defaults(handler=cmd_blocks_status)
    ui = commands.add_parser("ui", help="the Dagster UI and daemon (dagster dev) on 127.0.0.1")
    ui.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    ui.add_argument(
        "--instance",
        choices=["local", "postgres"],
        default="local",
        help="local: SQLite under $DAGSTER_HOME, else ./.dagster_home; postgres: dagster.yaml with DAGSTER_PG_*",
    )
    ui.set_defaults(handler=cmd_ui)
    for area in (cli_alerts, cli_bench, cli_repair, cli_report, cli_retention, cli_verify):
        area.register(commands)
    faults = textwrap.fill("fault ids: " + ", ".join(ALL_FAULTS), 100)
    parser.epilog = textwrap.fill(EXIT_CODES_HELP, 100) + "\n\n" + faults
    return parser


WRITES_OWN_SETTINGS = ("world", "demo", "bench")  # the environment still overrides what they write


def check_settings(args: argparse.Namespace) -> None:
    """Bad settings stop every command before any work: SettingsError naming the setting (exit 2)."""
    from .settings import check_environment, load_settings

    if args.command in WRITES_OWN_SETTINGS:
        check_environment()
    else:
        load_settings(getattr(args, "config", None))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_settings(args)
        return args.handler(args)
    except ValueError as exc:  # bad arguments or settings: say what, on one line, not a traceback
        print(f"reconcile: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
