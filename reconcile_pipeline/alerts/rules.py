"""The alert state machine, pure: this evaluation's signals + the live alerts -> decisions.

Per fingerprint (one cause: a check on an entity, a group, an unreadable layer, a failed repair, a failed
run or sensor)::

    (none) --failing--> pending (streak 1, 2, ...) --streak reaches the threshold--> open  [alert sent]
    pending --passes in a run that covers it--> cleared (nothing sent)
    open    --passes in a run that covers it--> resolved                              [one resolution notice]
    pending/open per-entity alerts of a check that is now grouped --> merged (the group alert speaks for them)

"Consecutive failing runs" count only runs that *cover* the fingerprint (:class:`Coverage`): a frequent run
over the last 15 minutes neither fails nor clears an alert on an NFT it did not read, and no run resolves a
check it cannot judge (e.g. IPFS_CID_INTEGRITY needs the deep cadence's GET on every gateway). An open alert
is never sent twice; a run evaluated twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .signals import Signal

LIVE = ("pending", "open")


@dataclass(frozen=True)
class Known:
    """A live alert (pending or open) as stored."""

    fingerprint: str
    kind: str
    status: str
    severity: str
    streak: int
    title: str = ""
    last_run_id: str | None = None
    check_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    alert_id: int | None = None


@dataclass(frozen=True)
class Coverage:
    """What one evaluation could have seen failing (so what its silence proves)."""

    findings: bool = False  # a consistency run is being evaluated
    complete: bool = False  # ... over every entity of every layer
    entities: frozenset[tuple[str, str]] = frozenset()  # judged entities of a partial run
    unjudged_checks: frozenset[str] = frozenset()  # checks this run's reads cannot judge
    layers_read: frozenset[str] = frozenset()
    repairs: bool = False  # the repair ledger was read

    def covers(self, known: Known) -> bool:
        if known.kind == "repair":
            return self.repairs
        if not self.findings or known.check_id in self.unjudged_checks:
            return False
        if known.kind == "unknown":
            return known.fingerprint.removeprefix("unknown:") in self.layers_read
        if known.kind == "finding":
            return self.complete or (known.entity_type, known.entity_id) in self.entities
        return self.complete and known.kind in ("group", "source", "layer")


@dataclass(frozen=True)
class Decision:
    action: str  # open | update | pending | resolve | clear | merge
    fingerprint: str
    streak: int
    signal: Signal | None = None
    known: Known | None = None
    note: str = ""

    @property
    def notify(self) -> bool:
        return self.action in ("open", "resolve")


@dataclass
class Evaluation:
    run_id: str
    signals: list[Signal]
    coverage: Coverage
    resolved: set[str] = field(default_factory=set)  # fingerprints resolved explicitly (a run/sensor recovered)


def _absorbed(known: Known, signals: list[Signal]) -> str | None:
    """The group signal that takes over this per-entity alert, if any."""
    if known.kind != "finding":
        return None
    return next((s.fingerprint for s in signals if known.check_id in s.absorbs), None)


def decide(evaluation: Evaluation, live: dict[str, Known]) -> list[Decision]:
    """Decisions for one evaluation against the live alerts (fingerprint -> Known)."""
    decisions: list[Decision] = []
    seen = set()
    for signal in evaluation.signals:
        if signal.fingerprint in seen:
            continue
        seen.add(signal.fingerprint)
        known = live.get(signal.fingerprint)
        if known is not None and known.last_run_id == evaluation.run_id:
            continue  # this run was already counted
        streak = (known.streak if known else 0) + 1
        if known is not None and known.status == "open":
            decisions.append(Decision("update", signal.fingerprint, streak, signal, known))
        elif streak >= signal.threshold:
            decisions.append(Decision("open", signal.fingerprint, streak, signal, known))
        else:
            decisions.append(Decision("pending", signal.fingerprint, streak, signal, known))
    for fingerprint, known in sorted(live.items()):
        if fingerprint in seen:
            continue
        group = _absorbed(known, evaluation.signals)
        if group is not None:
            decisions.append(Decision("merge", fingerprint, known.streak, known=known, note=f"merged into {group}"))
        elif fingerprint in evaluation.resolved or evaluation.coverage.covers(known):
            action = "resolve" if known.status == "open" else "clear"
            decisions.append(Decision(action, fingerprint, 0, known=known, note="passed"))
    return decisions


def repair_signals(ledger_rows: list[dict], threshold: int) -> list[Signal]:
    """A failed repair action (status failed, or moved to manual review after failing) alerts at ``threshold``."""
    signals = []
    for row in ledger_rows:
        failed = row["status"] == "failed" or (row["status"] == "manual_review" and row.get("last_error"))
        if not failed:
            continue
        entity = f"{row['entity_type']} {row['entity_id']}"
        signals.append(
            Signal(
                fingerprint=f"repair:{row['action_id']}",
                kind="repair",
                severity="critical",
                title=f"repair {row['repair']} failed on {entity}"[:255],
                message=f"{row['repair']} for {row['check_id']} on {entity}: {row.get('last_error') or row['status']}",
                threshold=threshold,
                details={"action_id": row["action_id"], "status": row["status"], "attempts": row.get("attempts")},
                check_id=row["check_id"],
                entity_type=row["entity_type"],
                entity_id=str(row["entity_id"]),
            )
        )
    return signals


def system_signal(kind: str, name: str, message: str) -> Signal:
    """A failed run or sensor tick: critical, alerted at once (the pipeline itself is broken)."""
    title = {"run": f"run of {name} failed", "sensor": f"sensor {name} failed"}.get(kind, f"{kind} {name} failed")
    return Signal(f"{kind}:{name}", kind, "critical", title, message[:2000], threshold=1, details={"name": name})
