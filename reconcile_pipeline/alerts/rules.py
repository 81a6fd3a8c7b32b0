"""The alert state machine, pure: this evaluation's signals + the live alerts -> decisions.

Per fingerprint (one cause: a check on an entity, a group, an unreadable layer, a failed repair, a failed
run or sensor)::

    (none) --failing--> pending (streak 1, 2, ...) --streak reaches the threshold--> open  [alert sent]
    pending --passes in a run that covers it--> cleared (nothing sent)
    open    --passes in a run that covers it--> resolved                              [one resolution notice]
    pending/open per-entity alerts of a check that is now grouped --> merged (the group alert speaks for them)

"Consecutive failing runs" count only runs that *cover* the fingerprint (:class:`Coverage`): a frequent run
over the last 15 minutes neither fails nor clears an alert on an NFT it did not read, and no run resolves a
check it cannot judge (e.g. IPFS_CID_INTEGRITY needs the deep cadence's GET on every gateway). An unknown never
resolves or clears anything: a finding's alert needs its check judged on its entity (no unknown for that check
on that entity; with a whole-check ``*`` unknown, which stands for the entities no layer could show, the entity
must have been seen in the run's frames), a group's needs its checks judged everywhere, a layer's
elevated rate needs every check counted against that layer judged, and an unreadable layer's alert needs the
layer read (no unknown left on it). An open alert is never sent twice; a run evaluated twice changes nothing
the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..checks.catalogue import CATALOGUE
from .signals import SOURCE_CHECKS, Signal, failing_layer

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
    unknown: frozenset[tuple[str, str]] = frozenset()  # (check, entity id) left unknown; "*": the unseen ones
    seen: frozenset[tuple[str, str]] = frozenset()  # (entity type, id) in the run's joined frames
    unread: frozenset[str] = frozenset()  # layers that could not be read as a whole

    def covers(self, known: Known) -> bool:
        if known.kind == "repair":
            return self.repairs
        if not self.findings or known.check_id in self.unjudged_checks:
            return False
        if known.kind == "unknown":
            return known.fingerprint.removeprefix("unknown:") in self.layers_read
        if known.kind == "finding":
            return self._judged(known)
        return self.complete and known.kind in ("group", "source", "layer") and not self._unknown_in(known)

    def _judged(self, known: Known) -> bool:
        """Whether this run judged the finding's check on its entity."""
        entity = (known.entity_type, known.entity_id)
        if not (self.complete or entity in self.entities) or (known.check_id, known.entity_id) in self.unknown:
            return False
        return (known.check_id, "*") not in self.unknown or entity in self.seen

    def _unknown_in(self, known: Known) -> bool:
        """Whether a check a group (or a layer's failure rate) speaks for was left unknown: on an entity, or
        on every unseen one (``*``) because a layer it needs could not be read (not for a standing limit such
        as no update authority to list by)."""
        checks = {check for check, entity in self.unknown if entity != "*" or self._needs_unread(check)}
        if known.kind == "layer":
            layer = known.fingerprint.removeprefix("layer:")
            return any(failing_layer(check) == layer for check in checks if check in CATALOGUE)
        speaks_for = set(SOURCE_CHECKS) if known.kind == "source" else {known.check_id}
        return bool(speaks_for & checks)

    def _needs_unread(self, check: str) -> bool:
        return check not in CATALOGUE or bool(set(CATALOGUE[check].layers) & self.unread)


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
