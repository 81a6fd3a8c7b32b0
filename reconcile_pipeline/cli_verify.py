"""`reconcile verify`: every check for one entity across all its layers (registered by cli.py).

    reconcile verify (--operation ID | --mint ADDRESS | --block N | --cid CID) [--config FILE] [--json]
                     [--repair [--execute] [--approve ACTION_ID ...]]

Prints a verdict per layer, the findings and the recommended actions; exits as `run` does
(:mod:`.outcome`: 0 all judged and none failing, 1 failing, 2 usage, 3 some layer left unknown). With
``--repair`` it applies the entity's plan like `reconcile repair apply` (a dry run unless ``--execute``;
destructive actions need ``--approve``; a repair that fails or goes to manual review exits 1).
"""

from __future__ import annotations

import argparse
import json
import sys

from .outcome import FAILING, USAGE

CONFIG_HELP = "settings TOML (default: RECONCILE_CONFIG / environment)"


def register(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser("verify", help="verify one entity on every layer (verdict per layer, actions)")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--operation", metavar="ID", help="a minting operation id")
    which.add_argument("--mint", metavar="ADDRESS", help="an NFT's mint address")
    which.add_argument("--block", metavar="N", help="a VDC block number")
    which.add_argument("--cid", metavar="CID", help="a CID: the operations whose metadata or image it is")
    verify.add_argument("--config", default=None, help=CONFIG_HELP)
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.add_argument("--repair", action="store_true", help="plan and apply this entity's repairs (dry run)")
    verify.add_argument("--execute", action="store_true", help="with --repair: write the repairs")
    verify.add_argument("--approve", action="append", default=[], metavar="ACTION_ID",
                        help="with --repair: approve a destructive action by its id (repeatable)")  # fmt: skip
    verify.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from .layers.errors import LayerError
    from .settings import load_settings
    from .verify import Target, verify
    from .verify_report import as_json, as_text, exit_code

    if (args.execute or args.approve) and not args.repair:
        print("reconcile: --execute and --approve go with --repair", file=sys.stderr)
        return USAGE
    target = Target.one_of(operation=args.operation, mint=args.mint, block=args.block, cid=args.cid)
    settings = load_settings(args.config)
    try:
        result = verify(settings, target)
    except LayerError as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return FAILING
    if result.note and target.kind in ("operation", "cid"):
        print(f"reconcile: {result.note}", file=sys.stderr)
        return USAGE
    status = exit_code(result)
    output = as_json(result) if args.json else None
    if not args.json:
        print(as_text(result))
    if args.repair:
        repaired = _repair(settings, result, args, output)
        if repaired is not None:
            status = repaired if repaired in (USAGE, FAILING) else status
    if args.json:
        json.dump(output, sys.stdout, indent=2, default=str)
        print()
    return status


def _repair(settings, result, args: argparse.Namespace, output: dict | None) -> int | None:
    """Apply the entity's plan (dry run unless --execute); USAGE on a bad approval, FAILING on a bad outcome."""
    from .repairs.apply import apply_plan

    plan = result.plan
    destructive = set(plan.loc[plan["destructive"].astype(bool), "action_id"]) if len(plan) else set()
    unknown = sorted(set(args.approve) - destructive)
    if unknown:
        print(f"reconcile: --approve names no destructive action of this entity's plan: {', '.join(unknown)}",
              file=sys.stderr)  # fmt: skip
        return USAGE
    report = apply_plan(settings, plan, execute=args.execute, approve=args.approve)
    if output is not None:
        output["repair"] = {"execute": args.execute, "blocked": report.blocked, "outcomes": report.outcomes}
    else:
        print("\nrepairs:" if report.outcomes else "\nrepairs: nothing to do")
        for outcome in report.outcomes:
            print(f"  {outcome['action_id']:13} {outcome['result']:15} {outcome['repair']:30} "
                  f"{outcome['check_id']:36} {outcome['entity_id']}")  # fmt: skip
        counts = ", ".join(f"{name} {count}" for name, count in report.counts().items()) or "nothing to do"
        print(f"{'applied' if args.execute else 'dry run (nothing written; --execute to apply)'}: {counts}")
    bad = {"failed", "manual review"} & set(report.counts())
    return FAILING if bad or report.blocked else None
