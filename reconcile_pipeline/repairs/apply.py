"""Apply a repair plan through the layer clients: dry-run by default, claimed, audited, verified, resumable.

:func:`apply_plan` walks the plan in phase order. Without ``execute`` it only says what it would do
(nothing is read from the layers or written). With ``execute``, for each action:

1. manual reviews go to the manual-review queue (once per finding);
2. the action gets its ledger row (``planned``; an existing key is the same action: a verified one is
   a no-op while the layer still holds the target state);
3. destructive actions wait for an approval naming their ``action_id``;
4. the action is **claimed** in the ledger before anything is written; then the layer's current state
   is read: if it already holds the target state (a crashed apply wrote it), nothing is written;
   otherwise the handler verifies its source and writes (``applied``, with before and after);
5. the entity is re-read and judged again (``verified`` or ``failed``, the outcome in the ledger).

A refused repair (its source does not validate, the recomputed CID differs, the truth would be
touched) goes to the queue at once; other failures are retried by later applies and go to the queue
after ``settings.repairs.max_attempts``; a layer that could not be read is not counted (unknown).
Rows a crashed apply left ``applying``/``applied`` are resumed first. The environment variable
``RECONCILE_REPAIR_CRASH_AFTER_WRITES=N`` kills the process (SIGKILL) right after its N-th write: the
crash-resume test uses it.
"""

from __future__ import annotations

import getpass
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from ..layers.errors import LayerError, LayerUnavailable
from ..settings import Settings
from .actions import Action
from .actions_blocks import RehydrateBlock, RepinBlock
from .actions_db import DatabaseRepair
from .actions_ipfs import RepinExact
from .actions_kv import DeleteMinedPending, RewriteLatest, RewritePendingCount, RewriteTxIndex
from .actions_source import RestoreSource
from .archive import ContentArchive
from .context import ApplyContext, RepairRefused
from .ledger import UNFINISHED, Ledger, session_owner
from .plan import plan_actions

CRASH_ENV = "RECONCILE_REPAIR_CRASH_AFTER_WRITES"
_db = DatabaseRepair()
HANDLERS = {
    "DB_RECORD_FROM_CHAIN": _db, "DB_STATUS_FROM_CHAIN": _db, "DB_MARK_FAILED": _db,
    "DB_UPDATE_URIS_FROM_CHAIN": _db, "DB_UPDATE_IMAGE_URI_FROM_IPFS": _db,
    "RESTORE_SOURCE_FROM_BACKUP": RestoreSource(), "IPFS_REPIN_EXACT": RepinExact(),
    "REHYDRATE_BLOCK": RehydrateBlock(), "REPIN_BLOCK_AND_UPDATE_KV": RepinBlock(),
    "REWRITE_TX_INDEX": RewriteTxIndex(), "REWRITE_LATEST_POINTER": RewriteLatest(),
    "REWRITE_PENDING_COUNT": RewritePendingCount(), "DELETE_MINED_PENDING": DeleteMinedPending(),
}  # fmt: skip
OUTCOME_COLUMNS = ["action_id", "check_id", "entity_type", "entity_id", "repair", "destructive", "result", "status",
                   "detail"]  # fmt: skip


@dataclass
class ApplyReport:
    execute: bool
    outcomes: list[dict] = field(default_factory=list)
    unknown_approvals: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.outcomes, columns=OUTCOME_COLUMNS)

    def counts(self) -> dict[str, int]:
        return self.frame()["result"].value_counts().sort_index().to_dict() if self.outcomes else {}


def default_approver() -> str:
    try:
        return f"{getpass.getuser()} (cli)"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown (cli)"


def _outcome(action: Action, result: str, status: str | None, detail: object = None) -> dict:
    return {"action_id": action.action_id, "check_id": action.check_id, "entity_type": action.entity_type,
            "entity_id": action.entity_id, "repair": action.repair, "destructive": action.destructive,
            "result": result, "status": status, "detail": None if detail is None else str(detail)[:500]}  # fmt: skip


class Session:
    """One ``apply --execute``: the ledger, the approvals, the writes made (for the crash hook)."""

    def __init__(self, ctx: ApplyContext, ledger: Ledger, approvals: set[str], approved_by: str) -> None:
        self.ctx, self.ledger, self.approvals, self.approved_by = ctx, ledger, approvals, approved_by
        self.writes = 0
        crash_after = os.environ.get(CRASH_ENV, "")
        self.crash_after = int(crash_after) if crash_after.isdigit() else None

    def run(self, action: Action, row: dict | None = None) -> dict:
        if action.manual:
            added = self.ledger.enqueue(action, "plan", action.reason)
            return _outcome(action, "queued" if added else "in queue", None, action.reason)
        row = row or self.ledger.ensure(action)
        if row["status"] == "manual_review":
            return _outcome(action, "in queue", row["status"], row.get("last_error"))
        if action.destructive and action.action_id not in self.approvals and not row.get("approved_by"):
            row = self.ledger.note_once(row, "awaiting approval", f"apply --approve {action.action_id}")
            return _outcome(action, "needs approval", row["status"], "destructive: --approve " + action.action_id)
        try:
            return self._run_claimed(action, row)
        except LayerUnavailable as exc:
            return _outcome(action, "unavailable", row["status"], exc)
        except LayerError as exc:  # reading the current state before claiming: nothing was written
            return _outcome(action, "failed", row["status"], exc)

    def _run_claimed(self, action: Action, row: dict) -> dict:
        handler, event = HANDLERS[action.repair], "claimed"
        if row["status"] in ("verified", "applied"):
            if handler.done(action, handler.current(self.ctx, action)):
                if row["status"] == "applied":
                    return self._verify(handler, action, row)
                return _outcome(action, "already done", row["status"])
            event = "recurred"
        elif row["status"] == "applying":
            if not self.ledger.claim_is_stale(row):
                return _outcome(action, "busy", row["status"], f"claimed by {row.get('claimed_by')}")
            event = "resumed"
        approver = self.approved_by if action.destructive else None
        claimed = self.ledger.claim(row, event, approver)
        if claimed is None:
            return _outcome(action, "busy", row["status"], "claimed by another apply")
        return self._apply(handler, action, claimed)

    def _apply(self, handler, action: Action, row: dict) -> dict:
        try:
            before = handler.current(self.ctx, action)
            if handler.done(action, before):
                after, detail = before, "the layer already holds the target state: nothing written"
            else:
                after, detail = handler.write(self.ctx, action, before), "written"
                self._count_write()
            row = self.ledger.record(row, "applied", "applied", detail, state_before=before, state_after=after,
                                     last_error=None)  # fmt: skip
            return self._verify(handler, action, row)
        except RepairRefused as exc:
            row = self.ledger.record(row, "failed", "refused", str(exc), last_error=str(exc))
            return self._escalate(action, row, "refused", str(exc))
        except LayerUnavailable as exc:
            self.ledger.record(row, "failed", "unavailable", str(exc), last_error=str(exc))
            return _outcome(action, "unavailable", "failed", exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is recorded and counted, never lost
            message = f"{type(exc).__name__}: {exc}"
            row = self.ledger.record(row, "failed", "failed", message, last_error=message)
            return self._after_failure(action, row, message)

    def _verify(self, handler, action: Action, row: dict) -> dict:
        verification = handler.verify(self.ctx, action)
        ok = bool(verification.get("ok"))
        event, status = ("verified", "verified") if ok else ("failed", "failed")
        row = self.ledger.record(row, status, event, None if ok else "re-check failed", verification=verification)
        if ok:
            return _outcome(action, "verified", status, row["state_after"])
        return self._after_failure(action, row, f"re-check failed: {verification}")

    def _after_failure(self, action: Action, row: dict, reason: str) -> dict:
        if self.ledger.failures(row) >= self.ledger.max_attempts:
            return self._escalate(action, row, "failures", f"failed {self.ledger.failures(row)} times: {reason}")
        return _outcome(action, "failed", row["status"], reason)

    def _escalate(self, action: Action, row: dict, source: str, reason: str) -> dict:
        row = self.ledger.record(row, "manual_review", "escalated", reason)
        self.ledger.enqueue(action, source, reason, history=row["history"])
        return _outcome(action, "manual review", row["status"], reason)

    def _count_write(self) -> None:
        self.writes += 1
        if self.crash_after is not None and self.writes >= self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)  # test hook: die between the write and its ledger record


def _dry_run(ledger: Ledger, actions: list[Action], approvals: set[str]) -> list[dict]:
    try:
        statuses = {row["idempotency_key"]: row["status"] for row in ledger.rows()}
        queued = {row["idempotency_key"] for row in ledger.queue()}
    except LayerError as exc:
        return [_outcome(a, "would apply", "unknown", f"ledger unreadable: {exc}") for a in actions]
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
        outcomes.append(_outcome(action, result, status, action.reason))
    return outcomes


def apply_plan(
    settings: Settings,
    plan: pd.DataFrame,
    *,
    execute: bool = False,
    approve: Iterable[str] = (),
    approved_by: str | None = None,
    archive: ContentArchive | None = None,
) -> ApplyReport:
    """Apply ``plan`` (see the module docstring); returns one outcome per action."""
    actions, approvals = plan_actions(plan), set(approve)
    destructive = {a.action_id for a in actions if a.destructive}
    report = ApplyReport(execute, unknown_approvals=sorted(approvals - destructive),
                         blocked=list(plan.attrs.get("blocked", [])))  # fmt: skip
    with ApplyContext(settings, archive) as ctx:
        cfg = settings.repairs
        ledger = Ledger(ctx.db, session_owner(), max_attempts=cfg.max_attempts, lease_s=cfg.claim_lease_s)
        if not execute:
            report.outcomes = _dry_run(ledger, actions, approvals)
            return report
        session = Session(ctx, ledger, approvals, approved_by or default_approver())
        planned = {a.key for a in actions}
        for row in ledger.rows(UNFINISHED):
            if row["idempotency_key"] not in planned:
                report.outcomes.append(session.run(Action.from_record(row["action"]), row))
        report.outcomes += [session.run(action) for action in actions]
    return report
