"""The `reconcile report` command: build the consistency report of any past run (default: the latest)."""

from __future__ import annotations

import argparse

from .settings import load_settings


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import build_report, list_runs

    settings = load_settings(args.config)
    if args.list:
        runs = list_runs(settings)
        if runs.empty:
            print("no runs yet")
        for run in runs.itertuples():
            kept = "" if run.has_parquet else "  (no Parquet files: findings table only)"
            print(f"{run.run_id}  {run.started_at:%Y-%m-%d %H:%M:%S}  {run.cadence:9} {run.status}{kept}")
        return 0
    result = build_report(settings, args.run, out_dir=args.out)
    totals = result.data.totals
    print(f"report:  {result.html_path} ({result.html_bytes:,} bytes)")
    print(
        f"run:     {result.run_id} ({result.data.run.cadence}): {totals['fail']:,} failing "
        f"({totals['critical']:,} critical), {totals['unknown']:,} unknown"
    )
    print(f"exports: {result.folder} ({', '.join(e.name for e in result.exports)})")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `reconcile report` to the `reconcile` parser."""
    report = commands.add_parser(
        "report",
        help="build a past run's report (HTML + Parquet)",
        description="Build the consistency report (HTML + Parquet exports) of a past run, by default the latest.",
    )
    report.add_argument("--run", default=None, metavar="RUN_ID", help="the run (default: the latest)")
    report.add_argument("--out", default=None, metavar="DIR", help="write here (default: {data_dir}/reports/RUN_ID)")
    report.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")
    report.add_argument("--list", action="store_true", help="list the runs a report can be built for")
    report.set_defaults(handler=cmd_report)
