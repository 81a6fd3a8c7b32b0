"""The `reconcile prune` command: remove per-run files past ``[reports] retention_days`` (see retention.py).

reconcile prune [--config FILE] [--dry-run] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys


def cmd_prune(args: argparse.Namespace) -> int:
    from .retention import prune_run_files
    from .settings import load_settings

    settings = load_settings(args.config)
    report = prune_run_files(settings, dry_run=args.dry_run)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2)
        print()
    else:
        verb = "would remove" if args.dry_run else "removed"
        days = settings.reports.retention_days
        window = f"older than {days} days" if days else "nothing: retention_days is 0"
        print(f"{verb} {len(report.removed)} per-run file(s) or folder(s), {report.bytes} bytes ({window})")
        for error in report.errors:
            print(f"reconcile: could not remove {error}", file=sys.stderr)
    return 1 if report.errors else 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `reconcile prune` to the `reconcile` parser."""
    prune = commands.add_parser("prune", help="remove per-run files past the retention window")
    prune.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    prune.add_argument("--json", action="store_true", help="print JSON")
    prune.set_defaults(handler=cmd_prune)
