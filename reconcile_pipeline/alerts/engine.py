"""The alert engine: evaluate a finished run (or a failed one, or a sensor tick) and notify the channels.

    evaluate_run(settings, run_id, tags)       after a run: its findings -> signals (signals.py), the repair
                                               ledger -> repair signals, the state machine (rules.py) against
                                               the alerts table (store.py), one "run completed" notice, the
                                               verification state of every judged entity; deliveries
    run_failed(settings, job, run_id, msg)      a failed run alerts at once (critical); its next success resolves
    sensor_failed / sensor_ok(settings, name)   the same for a sensor (or schedule) tick
    deliver_pending(settings)                   retry notifications a channel has not delivered yet

Each evaluation is idempotent per run id. If the alerts table cannot be used (database down), failures of
runs and sensors still reach the channels (deduplicated in this process for an hour): the pipeline breaking
must never be silent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd

from .. import verification
from ..cadences import scope_from_tags
from ..layers.errors import LayerError
from .channels import Notification, channels_from_settings, deliver
from .coverage import judged_blocks, judged_counts, run_coverage
from .inputs import load_run_outputs, read_repairs
from .rules import Coverage, Evaluation, decide, repair_signals, system_signal
from .signals import RuleConfig, failure_signals, layer_rate_signals, unknown_signals
from .store import AlertStore

log = logging.getLogger(__name__)
REPAIR_CURSOR = "alerts:repairs"
_FALLBACK_SENT: dict[str, float] = {}  # fingerprint -> when it was last sent without the store
FALLBACK_EVERY_S = 3600


def _notice_fingerprint(run_id: str) -> str:
    return f"notice:run:{run_id}"


def evaluate_run(settings, run_id: str, tags: dict[str, str], *, job_name: str | None = None,
                 logger=None, now: datetime | None = None, duration_s: float | None = None) -> dict:  # fmt: skip
    """Alerts for one finished run; a summary of what happened (for metadata, logs and tests)."""
    now = now or datetime.now(UTC)
    store = AlertStore(settings)
    if store.has(_notice_fingerprint(run_id)):
        return {"run_id": run_id, "evaluated": False, "reason": "already evaluated"}
    scope = scope_from_tags(tags)
    config = RuleConfig.from_settings(settings.alerts)
    outputs = load_run_outputs(settings, run_id, scope)
    live = store.live()
    signals, coverage = [], Coverage()
    summary = {"run_id": run_id, "cadence": scope.cadence, "evaluated": True, "duration_s": duration_s}
    if outputs is not None:
        signals, coverage = _finding_signals(settings, scope, outputs, config, live)
        summary |= _record_entities(settings, outputs, scope, run_id, now)
        summary |= {"fail": int((outputs.findings["status"] == "fail").sum()),
                    "unknown": int((outputs.findings["status"] == "unknown").sum())}  # fmt: skip
    cursor = store.get_cursor(REPAIR_CURSOR) or {}
    repairs = read_repairs(settings, datetime.fromisoformat(cursor["at"]) if cursor.get("at") else now)
    if repairs is not None:
        signals += repair_signals(repairs[0], config.repair_threshold)
        coverage = replace(coverage, repairs=True)
    resolved = {f"run:{job_name}"} if job_name else set()
    decisions = decide(Evaluation(run_id, signals, coverage, resolved), live)
    store.apply(decisions, run_id, now)
    _notices(store, run_id, summary, repairs, now)
    if repairs is not None:
        store.set_cursor(REPAIR_CURSOR, {"at": now.isoformat()})
    summary |= {"decisions": _count(decisions), "signals": len(signals)}
    summary["deliveries"] = deliver_pending(settings, logger=logger, store=store, now=now)
    return summary


def _finding_signals(settings, scope, outputs, config: RuleConfig, live: dict) -> tuple[list, Coverage]:
    """The signals of a run's findings, and what its silence proves."""
    groups = {fingerprint for fingerprint in live if fingerprint.startswith("group:")}
    findings = outputs.findings
    fails, unknowns = findings[findings["status"] == "fail"], findings[findings["status"] == "unknown"]
    signals = failure_signals(fails, config, groups) + unknown_signals(unknowns, config, outputs.unread)
    if scope.complete:
        signals += layer_rate_signals(fails, judged_counts(outputs.nft, outputs.blocks, outputs.context), config)
    levels = _judged_levels(settings, scope)
    unread = frozenset(outputs.unread)
    return signals, run_coverage(scope, outputs.nft, outputs.blocks, outputs.context, levels, findings, unread)


def _judged_levels(settings, scope) -> list[str]:
    """The levels a run judges: every one, except in a shard other than the home shard (none)."""
    return list(settings.source_images.supported_levels) if scope.judges_population else []


def _count(decisions) -> dict[str, int]:
    counts: dict[str, int] = {}
    for decision in decisions:
        counts[decision.action] = counts.get(decision.action, 0) + 1
    return counts


def _record_entities(settings, outputs, scope, run_id, now) -> dict:
    blocks = judged_blocks(outputs.blocks, outputs.context)
    levels = _judged_levels(settings, scope)
    results = verification.entity_results(outputs.findings, outputs.nft, blocks, levels)
    try:
        written = verification.record_entities(settings, results, cadence=scope.cadence, run_id=run_id, now=now)
    except (LayerError, ValueError) as exc:
        log.warning("verification state of entities not written: %s", exc)
        written = 0
    levels_ok = int(((results["entity_type"] == "level") & (results["result"] == "pass")).sum())
    return {"entities": len(results), "entities_failing": int((results["result"] == "fail").sum()),
            "entities_unknown": int((results["result"] == "unknown").sum()),
            "entities_written": written, "source_levels_ok": f"{levels_ok} of {len(levels)}",
            "ipfs_accessible": _ipfs_accessible(outputs.nft)}  # fmt: skip


def _ipfs_accessible(nft) -> str:
    """How many of the objects the NFTs name were read from a gateway (seed 000: accessible content)."""
    if nft is None or nft.empty or "metadata_read" not in nft:
        return "0 of 0"
    reads = pd.concat([nft["metadata_read"], nft["image_read"]]).astype("object")
    named = reads[~reads.isin(["none", None]) & reads.notna()]
    return f"{int((named == 'ok').sum())} of {len(named)}"


def _notices(store: AlertStore, run_id: str, summary: dict, repairs, now: datetime) -> None:
    """Informational notices: the run completed (always), repairs that succeeded since the last evaluation."""
    verified = repairs[1] if repairs is not None else []
    if verified:
        sample = [f"{r['repair']} on {r['entity_type']} {r['entity_id']}" for r in verified[:10]]
        store.add_notice(f"notice:repairs:{run_id}", f"{len(verified)} repairs verified", "; ".join(sample),
                         {"count": len(verified), "sample": sample}, run_id, now)  # fmt: skip
    if summary.get("evaluated") and "fail" in summary:
        passed = summary["entities"] - summary["entities_failing"] - summary["entities_unknown"]
        text = (f"{summary['cadence']} run {run_id}: {summary['fail']} failing and {summary['unknown']} unknown "
                f"findings; {passed} of {summary['entities']} entities verified ({summary['entities_unknown']} "
                f"unknown); source images verified: {summary['source_levels_ok']}; IPFS objects accessible: "
                f"{summary['ipfs_accessible']}")  # fmt: skip
    else:
        text = f"run {run_id} completed (no consistency findings to judge)"
    if summary.get("duration_s") is not None:
        text += f"; took {summary['duration_s']:.1f}s"
    store.add_notice(_notice_fingerprint(run_id), "run completed", text, summary.copy(), run_id, now)


def run_failed(settings, job_name: str, run_id: str, message: str, *, logger=None) -> dict:
    """A failed run: a critical alert at once, one per job until a run of that job succeeds."""
    return _system(settings, system_signal("run", job_name, f"run {run_id}: {message}"), run_id, logger)


def sensor_failed(settings, name: str, message: str, *, logger=None) -> dict:
    return _system(settings, system_signal("sensor", name, message), None, logger)


def sensor_ok(settings, name: str, *, logger=None) -> dict:
    """A good tick resolves the sensor's failure alert (cheap when there is none)."""
    store = AlertStore(settings)
    fingerprint = f"sensor:{name}"
    live = store.live([fingerprint])
    if fingerprint not in live:
        return {"resolved": False}
    evaluation = Evaluation(f"tick:{time.time()}", [], Coverage(), {fingerprint})
    decisions = decide(evaluation, {fingerprint: live[fingerprint]})
    store.apply(decisions, None, datetime.now(UTC))
    return {"resolved": True, "deliveries": deliver_pending(settings, logger=logger, store=store)}


def _system(settings, signal, run_id: str | None, logger) -> dict:
    now = datetime.now(UTC)
    try:
        store = AlertStore(settings)
        evaluation = Evaluation(run_id or f"tick:{now.isoformat()}", [signal], Coverage())
        decisions = decide(evaluation, store.live([signal.fingerprint]))
        store.apply(decisions, run_id, now)
        return {"decisions": _count(decisions), "deliveries": deliver_pending(settings, logger=logger, store=store)}
    except (LayerError, ValueError) as exc:  # no store: still tell someone, at most hourly per cause
        log.error("alerts table unusable (%s); notifying without it", exc)
        if time.monotonic() - _FALLBACK_SENT.get(signal.fingerprint, -FALLBACK_EVERY_S) < FALLBACK_EVERY_S:
            return {"fallback": "suppressed"}
        _FALLBACK_SENT[signal.fingerprint] = time.monotonic()
        note = Notification("opened", signal.fingerprint, signal.severity, "open", signal.title, signal.message,
                            signal.details, signal.kind, run_id=run_id)  # fmt: skip
        outcome = asyncio.run(deliver(channels_from_settings(settings, logger), [note]))
        return {"fallback": outcome[0]}


def deliver_pending(settings, *, logger=None, store: AlertStore | None = None, now: datetime | None = None) -> dict:
    """Send every notification some channel has not delivered yet; counts of outcomes."""
    store = store or AlertStore(settings)
    channels = channels_from_settings(settings, logger)
    pending = [
        (note, done)
        for note, done in store.undelivered(now or datetime.now(UTC))
        if {channel.name for channel in channels if channel.wants(note)} - done
    ]
    if not pending:
        return {}
    notes = [note for note, _ in pending]
    skip = {index: done for index, (_, done) in enumerate(pending)}
    outcomes = asyncio.run(deliver(channels, notes, timeout_s=settings.http.timeout_s, skip=skip))
    store.record_deliveries(list(zip(notes, outcomes, strict=True)))
    counts: dict[str, int] = {}
    for outcome in outcomes:
        for channel, result in outcome.items():
            key = f"{channel}:{'delivered' if result == 'delivered' else 'failed'}"
            counts[key] = counts.get(key, 0) + 1
    return counts
