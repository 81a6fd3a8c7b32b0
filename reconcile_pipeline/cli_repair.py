"""The `reconcile repair` subcommands: `plan`, `apply` (dry-run unless --execute), `queue` (registered by cli.py).

    reconcile repair plan  [--config FILE] [--json]
    reconcile repair apply [--config FILE] [--json] [--execute] [--approve ACTION_ID ...] [--ephemeral]
    reconcile repair queue [--config FILE] [--json] [--all] [--resolve ITEM [--note TEXT]]

`plan` and `apply` read every layer and plan from what they find now (one entry per failing finding, the
repair its finding names; none for unknown findings); `apply` without `--execute`
changes nothing. Destructive actions run only when `--approve` names their action id; an approval
that names no destructive action of the current plan stops the command (exit 2) before anything is
written. An apply is recorded as a run of ``repair_apply`` in the Dagster instance of ``DAGSTER_HOME``
(the UI's; ``--ephemeral``: in none). Exit status: 0 done, 1 some action failed or was sent to manual
review, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable

CONFIG_HELP = "settings TOML (default: RECONCILE_CONFIG / environment)"


def register(commands: argparse._SubParsersAction) -> None:
    """Add `repair plan|apply|queue` to the `reconcile` parser."""
    repair = commands.add_parser("repair", help="plan, apply and review repairs")
    sub = repair.add_subparsers(dest="repair_command", required=True)
    plan = sub.add_parser(
        "plan", help="read every layer and show the repair plan (one entry per failing finding)",
        description="One entry per failing finding, with the repair that finding's own `repair` field names: an "
        "automatic action, MANUAL_REVIEW (with the reason), or NONE/RECHECK (a warning or a re-check: nothing is "
        "written). Unknown findings get no entry: nothing is repaired from unknown.",
    )  # fmt: skip
    apply = sub.add_parser("apply", help="apply the plan: a dry run unless --execute")
    apply.add_argument("--execute", action="store_true", help="write the repairs (default: only show them)")
    apply.add_argument("--ephemeral", action="store_true", help="record the apply in no Dagster instance "
                       "(default: the one DAGSTER_HOME names, else .dagster_home)")  # fmt: skip
    apply.add_argument("--approve", action="append", default=[], metavar="ACTION_ID",
                       help="approve a destructive action by its id (repeatable)")  # fmt: skip
    queue = sub.add_parser("queue", help="the manual-review queue with each item's history")
    queue.add_argument("--all", action="store_true", help="include resolved items")
    queue.add_argument("--resolve", metavar="ITEM", help="resolve the open item with this id or action id")
    queue.add_argument("--note", default="", help="with --resolve: what was done (kept in the item's history)")
    for parser, handler in ((plan, cmd_plan), (apply, cmd_apply), (queue, cmd_queue)):
        parser.add_argument("--config", default=None, help=CONFIG_HELP)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)


def _reports_layer_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A layer the command needs (e.g. the database holding the ledger) could not be used: say so, exit 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from .layers.errors import LayerError

        try:
            return command(args)
        except LayerError as exc:
            print(f"reconcile: {exc}", file=sys.stderr)
            return 1

    return run


def _print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    print()


def _plan_records(plan) -> list[dict]:
    records = plan.to_dict("records")
    for record in records:
        for column in ("truth", "target", "before"):
            record[column] = json.loads(record[column])
    return records


@_reports_layer_errors
def cmd_plan(args: argparse.Namespace) -> int:
    from .repairs.current import current_plan
    from .settings import load_settings

    plan = current_plan(load_settings(args.config))
    blocked = plan.attrs.get("blocked", [])
    if args.json:
        _print_json({"blocked": blocked, "actions": _plan_records(plan)})
        return 1 if blocked else 0
    for problem in blocked:
        print(f"plan refused: {problem}", file=sys.stderr)
    if plan.empty:
        print("nothing to repair" if not blocked else "no plan")
        return 1 if blocked else 0
    print(f"{'action':13} {'repair':30} {'check':36} entity")
    for row in plan.itertuples():
        flag = "  [destructive: needs --approve]" if row.destructive else ""
        print(f"{row.action_id:13} {row.repair:30} {row.check_id:36} {row.entity_id}{flag}")
    print("\n" + plan_counts_line(plan))
    return 0


def plan_counts_line(plan) -> str:
    """'N automatic (D destructive), M manual review, K no action': one entry per failing finding."""
    from .repairs.actions import AUTOMATIC, MANUAL

    automatic = int(plan["repair"].isin(list(AUTOMATIC)).sum())
    manual = int((plan["repair"] == MANUAL).sum())
    destructive = int(plan["destructive"].sum())
    return (f"{len(plan)} failing findings: {automatic} automatic ({destructive} destructive), {manual} manual review, "
            f"{len(plan) - automatic - manual} no action (warnings and re-checks)")  # fmt: skip


@_reports_layer_errors
def cmd_apply(args: argparse.Namespace) -> int:
    from . import execution
    from .cli_record import recorded
    from .repairs.apply import apply_plan
    from .repairs.current import clear_queue, plan_now
    from .settings import load_settings

    settings = load_settings(args.config)
    judged, plan = plan_now(settings)
    destructive = set(plan.loc[plan["destructive"].astype(bool), "action_id"]) if len(plan) else set()
    unknown = sorted(set(args.approve) - destructive)
    if unknown:
        print(f"reconcile: --approve names no destructive action of the current plan: {', '.join(unknown)}",
              file=sys.stderr)  # fmt: skip
        return 2
    def work():
        report = apply_plan(settings, plan, execute=args.execute, approve=args.approve)
        if args.execute:
            report.cleared = clear_queue(settings, judged)
        return report

    with execution.using(ephemeral=args.ephemeral):  # the UI lists the apply among the runs of repair_apply
        report = recorded("repair_apply", "apply_repairs", "repair_plan", work, _apply_metadata(args.execute))
    if args.json:
        _print_json({"execute": args.execute, "blocked": report.blocked, "outcomes": report.outcomes,
                     "queue_cleared": report.cleared})  # fmt: skip
    else:
        for outcome in report.outcomes:
            print(f"{outcome['action_id']:13} {outcome['result']:15} {outcome['repair']:30} {outcome['check_id']:36} "
                  f"{outcome['entity_id']}")  # fmt: skip
        counts = ", ".join(f"{name} {count}" for name, count in report.counts().items()) or "nothing to do"
        print(f"\n{'applied' if args.execute else 'dry run (nothing written; --execute to apply)'}: {counts}")
        if report.cleared:
            print(f"manual-review items resolved (problem no longer found): {', '.join(report.cleared)}")
    bad = {"failed", "manual review"} & set(report.counts())
    return 1 if bad or report.blocked else 0


def _apply_metadata(execute: bool):
    def metadata(report) -> dict:
        from dagster import MetadataValue

        return {"execute": execute, "counts": MetadataValue.json(report.counts()), "source": "reconcile CLI",
                "outcomes": MetadataValue.json(report.outcomes[:200])}  # fmt: skip

    return metadata


@_reports_layer_errors
def cmd_queue(args: argparse.Namespace) -> int:
    from .layers.database import DatabaseClient
    from .repairs.ledger import Ledger
    from .settings import load_settings

    settings = load_settings(args.config)
    if args.resolve:
        return _resolve(settings, args)
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        items = Ledger(db, "queue-reader").queue(None if args.all else "open")
    if args.json:
        _print_json(items)
        return 0
    if not items:
        print("the manual-review queue is empty")
        return 0
    for item in items:
        print(f"{item['action_id']:13} {item['status']:8} {item['source']:8} {item['check_id']:36} {item['entity_id']}")
        print(f"    {item['reason']}")
        for event in item["history"] or []:
            print(f"      {event.get('at', '')[:19]}  {event.get('event')}: {event.get('detail') or ''}")
    print(f"\n{len(items)} item(s)")
    return 0


def _resolve(settings, args: argparse.Namespace) -> int:
    """``queue --resolve ITEM``: an operator closes an open item (exit 2 if no open item has that id)."""
    from .layers.database import DatabaseClient
    from .repairs.outcomes import default_approver
    from .repairs.queue_review import resolve_by_operator

    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        item = resolve_by_operator(db, args.resolve, default_approver(), args.note)
    if item is None:
        print(f"reconcile: no open manual-review item {args.resolve}", file=sys.stderr)
        return 2
    print(f"resolved {item['action_id']} ({item['check_id']} {item['entity_id']})")
    return 0
