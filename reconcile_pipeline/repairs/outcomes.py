"""What an apply reports: one outcome per action (:class:`ApplyReport`), and the dry run's outcomes."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

import pandas as pd

from ..layers.errors import LayerError
from .actions import Action
from .ledger import Ledger

OUTCOME_COLUMNS = ["action_id", "check_id", "entity_type", "entity_id", "repair", "destructive", "result", "status",
                   "detail"]  # fmt: skip


@dataclass
class ApplyReport:
    execute: bool
    outcomes: list[dict] = field(default_factory=list)
    unknown_approvals: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # manual-review items this fresh plan no longer supports

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.outcomes, columns=OUTCOME_COLUMNS)

    def counts(self) -> dict[str, int]:
        return self.frame()["result"].value_counts().sort_index().to_dict() if self.outcomes else {}


def default_approver() -> str:
    try:
        return f"{getpass.getuser()} (cli)"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown (cli)"


def outcome(action: Action, result: str, status: str | None, detail: object = None) -> dict:
    return {"action_id": action.action_id, "check_id": action.check_id, "entity_type": action.entity_type,
            "entity_id": action.entity_id, "repair": action.repair, "destructive": action.destructive,
            "result": result, "status": status, "detail": None if detail is None else str(detail)[:500]}  # fmt: skip


def dry_run(ledger: Ledger, actions: list[Action], approvals: set[str]) -> list[dict]:
    """What ``apply`` would do, from the ledger alone (no layer is read, nothing is written)."""
    try:
        statuses = {row["idempotency_key"]: row["status"] for row in ledger.rows()}
        queued = {row["idempotency_key"] for row in ledger.queue()}
    except LayerError as exc:
        return [outcome(a, "would apply", "unknown", f"ledger unreadable: {exc}") for a in actions]
    outcomes = []
    for action in actions:
        status = statuses.get(action.key)
        if action.manual:
            result = "in queue" if action.key in queued else "would queue"
        elif status in ("verified", "manual_review"):
            result = "already done" if status == "verified" else "in queue"
        elif action.destructive and action.action_id not in approvals:
            result = "needs approval"
        else:
            result = "would apply"
        outcomes.append(outcome(action, result, status, action.reason))
    return outcomes
