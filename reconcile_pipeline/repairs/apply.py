"""Apply a repair plan through the layer clients: dry-run by default, claimed, audited, verified, resumable.

:func:`apply_plan` walks the plan in phase order (its NONE/RECHECK entries write nothing and are skipped).
Without ``execute`` it only says what it would do (nothing is read from the layers or written).
With ``execute``, for each action:

1. manual reviews go to the manual-review queue (once per finding);
2. the action gets its ledger row (``planned``; an existing key is the same action: a verified one is
   a no-op while the layer still holds the target state);
3. destructive actions wait for an approval naming their ``action_id``;
4. the action is **claimed** in the ledger before anything is written; then the layer's current state
   is read: if it already holds the target state (a crashed apply wrote it), nothing is written;
   otherwise that state is stored in the ledger, the handler verifies its source and writes through
   the layer's write client (``applied``, with before and after);
5. the entity is re-read and judged again (``verified`` or ``failed``, the outcome in the ledger).

A refused repair (its source does not validate, the recomputed CID differs, the truth would be
touched) goes to the queue at once; other failures are retried by later applies and go to the queue
after ``settings.repairs.max_attempts``; a layer that could not be read is not counted (unknown), nor
is a write the layer refused for lack of privilege (event ``unauthorized``: the credentials need
fixing, not the action). Rows a crashed apply left ``applying``/``applied`` are resumed first (their
claim is taken over once its owner is dead or its lease expired). An action another live apply holds
is ``busy``: this apply stops there and leaves the rest of the plan to that one (``busy`` too), so two
applies at once never work on one action nor run a later phase before an earlier one. The environment
variable ``RECONCILE_REPAIR_CRASH_AFTER_WRITES=N`` kills the process (SIGKILL) right after its N-th
write: the crash-resume tests use it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable

import pandas as pd

from ..layers.errors import LayerAuthError, LayerDataError, LayerError, LayerUnavailable
from ..settings import Settings
from .actions import NO_ACTION, Action
from .actions_blocks import RehydrateBlock, RepinBlock
from .actions_db import DatabaseRepair
from .actions_ipfs import RepinExact
from .actions_kv import DeleteMinedPending, RewriteLatest, RewritePendingCount, RewriteTxIndex
from .actions_source import RestoreSource
from .archive import ContentArchive
from .context import ApplyContext, RepairRefused, write_refused
from .ledger import UNFINISHED, ClaimLost, Ledger, session_owner
from .outcomes import ApplyReport, default_approver, dry_run, outcome
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


class Session:
    """One ``apply --execute``: the ledger, the approvals, the writes made (for the crash hook)."""

    def __init__(self, ctx: ApplyContext, ledger: Ledger, approvals: set[str], approved_by: str) -> None:
        self.ctx, self.ledger, self.approvals, self.approved_by = ctx, ledger, approvals, approved_by
        self.writes = 0
        crash_after = os.environ.get(CRASH_ENV, "")
        self.crash_after = int(crash_after) if crash_after.isdigit() else None

    def run(self, action: Action, row: dict | None = None) -> dict:
        """Apply one action (``row``: its ledger row when already read); its outcome."""
        try:
            return self._run(action, row)
        except ClaimLost as exc:  # another apply changed the row meanwhile: it holds the action
            return outcome(action, "busy", None, exc)

    def _run(self, action: Action, row: dict | None) -> dict:
        if action.manual:
            added = self.ledger.enqueue(action, "plan", action.reason)
            return outcome(action, "queued" if added else "in queue", None, action.reason)
        row = row or self.ledger.ensure(action)
        if row["status"] == "manual_review":
            return outcome(action, "in queue", row["status"], row.get("last_error"))
        if action.destructive and action.action_id not in self.approvals and not row.get("approved_by"):
            row = self.ledger.note_once(row, "awaiting approval", f"apply --approve {action.action_id}")
            return outcome(action, "needs approval", row["status"], "destructive: --approve " + action.action_id)
        try:
            return self._run_claimed(action, row)
        except LayerUnavailable as exc:
            return outcome(action, "unavailable", row["status"], exc)
        except LayerError as exc:  # reading the current state before claiming: nothing was written
            return outcome(action, "failed", row["status"], exc)

    def _run_claimed(self, action: Action, row: dict) -> dict:
        handler, event = HANDLERS[action.repair], "claimed"
        if row["status"] == "verified":
            if handler.done(action, handler.current(self.ctx, action)):
                return outcome(action, "already done", row["status"])
            event = "recurred"
        elif row["status"] in UNFINISHED:  # applying or applied: resumed once its owner is gone
            if not self.ledger.claim_is_stale(row):
                return outcome(action, "busy", row["status"], f"claimed by {row.get('claimed_by')}")
            event = "resumed"
        approver = self.approved_by if action.destructive else None
        claimed = self.ledger.claim(row, event, approver)
        if claimed is None:
            return outcome(action, "busy", row["status"], "claimed by another apply")
        return self._apply(handler, action, claimed)

    def _apply(self, handler, action: Action, row: dict) -> dict:
        try:
            before = handler.current(self.ctx, action)
            if handler.done(action, before):
                after, detail = before, "the layer already holds the target state: nothing written"
            else:
                if row.get("state_before") is None:  # else kept from an attempt that died or failed writing
                    row = self.ledger.stash(row, before)
                after, detail = handler.write(self.ctx, action, before), "written"
                self._count_write()
            first = before if row.get("state_before") is None else row["state_before"]
            row = self.ledger.record(row, "applied", "applied", detail, state_before=first, state_after=after,
                                     last_error=None)  # fmt: skip
            return self._verify(handler, action, row)
        except RepairRefused as exc:
            row = self.ledger.record(row, "failed", "refused", str(exc), last_error=str(exc))
            return self._escalate(action, row, "refused", str(exc))
        except (LayerAuthError, LayerDataError) as exc:
            if not write_refused(exc):
                return self._failed(action, row, exc)
            self.ledger.record(row, "failed", "unauthorized", str(exc), last_error=str(exc))
            return outcome(action, "failed", "failed", f"write refused (check the repairs' credentials): {exc}")
        except LayerUnavailable as exc:
            self.ledger.record(row, "failed", "unavailable", str(exc), last_error=str(exc))
            return outcome(action, "unavailable", "failed", exc)
        except ClaimLost:
            raise
        except Exception as exc:  # noqa: BLE001 - any other failure is recorded and counted, never lost
            return self._failed(action, row, exc)

    def _failed(self, action: Action, row: dict, exc: Exception) -> dict:
        message = f"{type(exc).__name__}: {exc}"
        row = self.ledger.record(row, "failed", "failed", message, last_error=message)
        return self._after_failure(action, row, message)

    def _verify(self, handler, action: Action, row: dict) -> dict:
        verification = handler.verify(self.ctx, action)
        ok = bool(verification.get("ok"))
        event, status = ("verified", "verified") if ok else ("failed", "failed")
        row = self.ledger.record(row, status, event, None if ok else "re-check failed", verification=verification)
        if ok:
            return outcome(action, "verified", status, row["state_after"])
        return self._after_failure(action, row, f"re-check failed: {verification}")

    def _after_failure(self, action: Action, row: dict, reason: str) -> dict:
        if self.ledger.failures(row) >= self.ledger.max_attempts:
            return self._escalate(action, row, "failures", f"failed {self.ledger.failures(row)} times: {reason}")
        return outcome(action, "failed", row["status"], reason)

    def _escalate(self, action: Action, row: dict, source: str, reason: str) -> dict:
        row = self.ledger.record(row, "manual_review", "escalated", reason)
        self.ledger.enqueue(action, source, reason, history=row["history"])
        return outcome(action, "manual review", row["status"], reason)

    def _count_write(self) -> None:
        self.writes += 1
        if self.crash_after is not None and self.writes >= self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)  # test hook: die between the write and its ledger record


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
    actions = [a for a in plan_actions(plan) if a.repair not in NO_ACTION]  # warnings, re-checks: nothing to do
    approvals = set(approve)
    destructive = {a.action_id for a in actions if a.destructive}
    report = ApplyReport(execute, unknown_approvals=sorted(approvals - destructive),
                         blocked=list(plan.attrs.get("blocked", [])))  # fmt: skip
    with ApplyContext(settings, archive) as ctx:
        cfg = settings.repairs
        ledger = Ledger(ctx.db, session_owner(), max_attempts=cfg.max_attempts, lease_s=cfg.claim_lease_s)
        if not execute:
            report.outcomes = dry_run(ledger, actions, approvals)
            return report
        session = Session(ctx, ledger, approvals, approved_by or default_approver())
        planned = {a.key for a in actions}
        unfinished = [row for row in ledger.rows(UNFINISHED) if row["idempotency_key"] not in planned]
        resumed = [(Action.from_record(row["action"]), row) for row in unfinished]
        report.outcomes = _run_all(session, [*resumed, *((action, None) for action in actions)])
    return report


def _run_all(session: Session, work: list[tuple[Action, dict | None]]) -> list[dict]:
    """Run each action in order; after one another live apply holds, leave the rest to it (phase order kept)."""
    outcomes: list[dict] = []
    holder = None
    for action, row in work:
        if holder is not None:
            outcomes.append(outcome(action, "busy", None, f"left to the apply working on {holder}"))
            continue
        outcomes.append(session.run(action, row))
        if outcomes[-1]["result"] == "busy":
            holder = action.action_id
    return outcomes
