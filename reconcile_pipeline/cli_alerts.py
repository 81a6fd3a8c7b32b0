"""The `reconcile alerts` subcommands (registered by cli.py).

reconcile alerts list [--all] [--json]   open alerts (or every alert, pending and notices included)
reconcile alerts deliver                 send again what a channel has not delivered yet
reconcile alerts test                    send a test notice to every configured channel
"""

from __future__ import annotations

import argparse
import json
import sys


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="settings TOML (default: RECONCILE_CONFIG / environment)")


def register(commands: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the `reconcile` parser."""
    alerts = commands.add_parser("alerts", help="alerts: list, deliver again, send a test").add_subparsers(
        dest="alerts_command", required=True
    )
    listing = alerts.add_parser("list", help="open alerts (the alerts table)")
    _config(listing)
    listing.add_argument("--all", action="store_true", help="every alert: pending, resolved, notices too")
    listing.add_argument("--limit", type=int, default=200, help="at most this many rows, newest first (200)")
    listing.add_argument("--json", action="store_true", help="print the alerts as one JSON array")
    listing.set_defaults(handler=cmd_list)
    again = alerts.add_parser("deliver", help="send again what a channel has not delivered yet")
    _config(again)
    again.set_defaults(handler=cmd_deliver)
    test = alerts.add_parser("test", help="send a test notice to every configured channel")
    _config(test)
    test.set_defaults(handler=cmd_test)


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from .alerts.store import AlertStore
    from .settings import load_settings

    statuses = None if args.all else ("open",)
    frame = AlertStore(load_settings(args.config)).frame(statuses, limit=args.limit)
    columns = ["id", "status", "severity", "fingerprint", "title", "streak", "opened_at", "last_seen_at", "resolved_at"]
    if args.json:
        records = frame[[*columns, "message", "details", "deliveries"]].to_dict("records")
        json.dump(records, sys.stdout, indent=2, default=str)
        print()
        return 0
    if frame.empty:
        print("no open alerts" if not args.all else "no alerts")
        return 0
    for row in frame.itertuples():
        since = row.opened_at if pd.notna(row.opened_at) else row.last_seen_at
        print(f"{row.id:>6} {row.status:8} {row.severity:8} {row.title[:70]:70} since {since:%Y-%m-%d %H:%M}Z")
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    from .alerts.engine import deliver_pending
    from .settings import load_settings

    counts = deliver_pending(load_settings(args.config))
    print(", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "nothing to deliver")
    return 0 if not any(key.endswith(":failed") for key in counts) else 1


def cmd_test(args: argparse.Namespace) -> int:
    import asyncio

    from .alerts.channels import Notification, channels_from_settings, deliver
    from .settings import load_settings

    settings = load_settings(args.config)
    note = Notification("notice", "test:channels", "info", "notice", "reconcile alerts test",
                        "a test notice from `reconcile alerts test`", kind="test")  # fmt: skip
    channels = channels_from_settings(settings)
    for channel in channels:
        channel.notices = True  # a test reaches every channel, whatever notify_info says
    (outcome,) = asyncio.run(deliver(channels, [note], timeout_s=settings.http.timeout_s))
    for name, result in outcome.items():
        print(f"{name:8} {result}")
    return 0 if all(result == "delivered" for result in outcome.values()) else 1
