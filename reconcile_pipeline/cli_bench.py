"""The `reconcile bench ...` command: the benchmark suite in ``bench/`` (a folder of the repository, not of the
installed package), the same as ``python -m bench ...`` from the repository root (its help says `reconcile bench`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def cmd_bench(args: argparse.Namespace) -> int:
    if not (REPOSITORY / "bench" / "cli.py").exists():
        print("reconcile bench: the bench/ folder is not here (run from a checkout of the repository)", file=sys.stderr)
        return 2
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    from bench.cli import main

    return main(args.bench_args, prog="reconcile bench")


def register(commands: argparse._SubParsersAction) -> None:
    """Add `reconcile bench` to the `reconcile` parser; everything after it goes to `python -m bench`."""
    bench = commands.add_parser(
        "bench",
        help="benchmarks against the sequential baseline",
        add_help=False,
        prefix_chars="+",  # every option after `bench` belongs to python -m bench
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of reconcile bench (--help)")
    bench.set_defaults(handler=cmd_bench)
