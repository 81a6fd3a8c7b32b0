"""What `reconcile verify` and the ``verify_entity`` job say about one entity: a verdict per layer, the
findings, the recommended actions (the repair plan), the exit status (:mod:`.outcome`).

A layer's verdict: ``unknown`` when a snapshot of it could not be read (with the cause) or a check on it was
left unknown, ``fail`` when a failing finding names it, ``skipped`` when nothing of the entity lives there,
else ``ok``. An unknown layer never reads as ok, and the exit status is 3 when nothing fails but something
could not be judged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from .outcome import judged_exit_code
from .verify import Verification


@dataclass(frozen=True)
class LayerVerdict:
    layer: str
    verdict: str  # ok | fail | unknown | skipped
    detail: str = ""


def _named_layers(finding) -> list[str]:
    """The layers a finding blames: a block's missing or diverging tiers when it says which, else its layers."""
    details = json.loads(finding.details) if isinstance(finding.details, str) else finding.details
    details = details if isinstance(details, dict) else {}
    tiers = details.get("missing") or details.get("diverging") if finding.status == "fail" else None
    return list(tiers) if isinstance(tiers, list) and tiers else list(finding.layers)


def _checks(findings: pd.DataFrame, layer: str, status: str) -> list[str]:
    rows = [f for f in findings.itertuples() if f.status == status and layer in _named_layers(f)]
    return sorted({f.check_id for f in rows})


def layer_verdicts(result: Verification) -> list[LayerVerdict]:
    verdicts = []
    for layer in result.layers:
        statuses = [s.status for s in result.snapshots.values() if s.status.layer == layer]
        unreadable = [s.message or "not read" for s in statuses if s.status == "unavailable"]
        failing = _checks(result.findings, layer, "fail")
        unknown = _checks(result.findings, layer, "unknown")
        if failing:
            verdicts.append(LayerVerdict(layer, "fail", ", ".join(failing)))
        elif unreadable:
            verdicts.append(LayerVerdict(layer, "unknown", f"could not be read: {unreadable[0][:300]}"))
        elif unknown:
            verdicts.append(LayerVerdict(layer, "unknown", ", ".join(unknown)))
        elif statuses and all(s.status == "skipped" for s in statuses):
            verdicts.append(LayerVerdict(layer, "skipped", statuses[0].message or ""))
        else:
            verdicts.append(LayerVerdict(layer, "ok"))
    return verdicts


def exit_code(result: Verification) -> int:
    failing = int((result.findings["status"] == "fail").sum()) if len(result.findings) else 0
    unknown = sum(v.verdict == "unknown" for v in layer_verdicts(result))
    return judged_exit_code(failing, unknown)


def actions(result: Verification) -> list[dict]:
    plan = result.plan
    columns = ["action_id", "repair", "check_id", "entity_id", "destructive", "reason"]
    return [] if plan.empty else plan[[c for c in columns if c in plan]].to_dict("records")


def as_json(result: Verification) -> dict:
    from .checks.findings import findings_records

    return {
        "entity": {"kind": result.target.kind, "id": result.target.value},
        "covers": sorted(f"{t}:{i}" for t, i in result.keys),
        "layers": [v.__dict__ for v in layer_verdicts(result)],
        "findings": findings_records(result.findings),
        "actions": actions(result),
        "blocked": list(result.plan.attrs.get("blocked", [])),
        "note": result.note,
        "exit": exit_code(result),
    }


def as_text(result: Verification) -> str:
    lines = [f"verify {result.target}" + (f": {result.note}" if result.note else "")]
    lines += [f"{'layer':14} {'verdict':8} detail"]
    lines += [f"{v.layer:14} {v.verdict:8} {v.detail}".rstrip() for v in layer_verdicts(result)]
    if len(result.findings):
        lines.append("\nfindings:")
        lines += [f"  {r.status:8} {r.check_id:36} {r.entity_type} {r.entity_id}" for r in result.findings.itertuples()]
    lines.append("\nrecommended actions:" if actions(result) else "\nrecommended actions: none")
    for action in actions(result):
        flag = "  [destructive: needs --approve]" if action.get("destructive") else ""
        lines.append(f"  {action['action_id']:13} {action['repair']:30} {action['check_id']:36} "
                     f"{action['entity_id']}{flag}")  # fmt: skip
    for problem in result.plan.attrs.get("blocked", []):
        lines.append(f"  plan refused: {problem}")
    failing = int((result.findings["status"] == "fail").sum()) if len(result.findings) else 0
    unknown = int((result.findings["status"] == "unknown").sum()) if len(result.findings) else 0
    lines.append(f"\n{result.target}: {failing} failing, {unknown} unknown findings")
    return "\n".join(lines)
