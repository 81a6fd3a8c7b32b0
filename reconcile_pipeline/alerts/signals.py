"""Findings to signals: what is wrong in one run, one signal per cause (pure; no I/O).

Seed 000's triggers, and the signal each becomes (fingerprint, severity):

    warning   source images missing from assets directory    finding:SOURCE_MISSING:level:<L>
              single layer showing elevated failure rates     layer:<layer> (share >= elevated_failure_rate)
              IPFS content becoming inaccessible              unknown:ipfs (gateways unreadable), and the
                                                              IPFS findings (their catalogue severity)
              records pending for extended periods            finding:DB_STUCK_PENDING:...
              partner verification failures                   finding:PARTNER_VERIFICATION_FAILED:...
    critical  multiple source images missing or corrupted     group:SOURCE_IMAGES (2+ levels)
              cross-layer consistency failures detected       finding:<check>:... of critical checks
              automated reconciliation procedures failing     repair:<action> (rules.repair_signals)
              large number of orphaned records in any layer   group:<orphan check> (>= orphan_critical_count)
              complete breakdown of verification pipeline     run:<job>, sensor:<name> (engine)
    info      verifications, uploads, repairs, completions    notices (engine), resolution notices

Many findings with one cause are one signal: a check failing on ``group_min_entities`` entities or more is
``group:<check>`` (and stays grouped until it passes everywhere); unknown findings are grouped by the layer
that could not be read (``unknown:<layer>``: a gateway down is one alert, not one per CID). A layer that could
not be read at all alerts at once (the reconciliation failure threshold), naming the cause and how many checks
it left unknown; one read with some records unreadable alerts after ``threshold`` runs.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pandas as pd

from ..checks.catalogue import CATALOGUE

SOURCE_CHECKS = ("SOURCE_MISSING", "SOURCE_INVALID", "SOURCE_MISSING_ACTIVE_NFT")
ORPHAN_CHECKS = frozenset(  # a row in one layer with nothing behind it in another
    {"BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "CHAIN_METADATA_MISSING", "DATABASE_SUCCESS_IPFS_FAILURE"}
    | {"BLOCK_TIER_MISSING"}
)
LAYER_WORDS = {  # reason text -> the layer that could not be read (first match by position wins)
    "solana": "solana", "pinata": "pinata", "gateway": "ipfs", "ipfs": "ipfs", "metadata json": "ipfs",
    "database": "database", "kv": "kv", "r2": "r2", "source_images": "source_images",
    "source image": "source_images", "registry": "database", "transaction": "solana",
}  # fmt: skip
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SAMPLE = 10
RATE_MIN_FAILING = 3  # a rate over fewer failing entities is noise, not an elevated rate


@dataclass(frozen=True)
class RuleConfig:
    threshold: int = 3  # consistencyFailureThreshold
    repair_threshold: int = 1  # reconciliationFailureThreshold
    group_min: int = 10
    orphan_count: int = 10
    elevated_rate: float = 0.2
    source_missing_alert: bool = True

    @classmethod
    def from_settings(cls, alerts) -> RuleConfig:
        return cls(
            alerts.consistency_failure_threshold,
            alerts.reconciliation_failure_threshold,
            alerts.group_min_entities,
            alerts.orphan_critical_count,
            alerts.elevated_failure_rate,
            alerts.source_image_missing_alert,
        )


@dataclass(frozen=True)
class Signal:
    """One cause observed failing in one run (or one evaluation)."""

    fingerprint: str
    kind: str  # finding | group | source | unknown | layer | repair | run | sensor
    severity: str
    title: str
    message: str
    threshold: int
    details: dict = field(default_factory=dict)
    check_id: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    absorbs: tuple[str, ...] = ()  # checks whose per-entity alerts this group takes over


def worst(severities) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 0), default="warning")


def unknown_cause(reason: str, layers: list[str]) -> str:
    """The layer whose read failed: a ``[layer]`` error tag, else the first layer word, else the check's layer."""
    tags = re.findall(r"\[([a-z_0-9]+)\]", reason)
    if tags:
        return tags[0]
    lowered = reason.lower()
    hits = [(lowered.find(word), layer) for word, layer in LAYER_WORDS.items() if word in lowered]
    if hits:
        return min(hits)[1]
    return layers[0] if layers else "unknown"


def _details(text: object) -> dict:
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _finding_signal(row: dict, cfg: RuleConfig) -> Signal:
    spec = CATALOGUE.get(row["check_id"])
    entity = f"{row['entity_type']} {row['entity_id']}"
    return Signal(
        fingerprint=f"finding:{row['check_id']}:{row['entity_type']}:{row['entity_id']}",
        kind="finding",
        severity=row["severity"],
        title=f"{row['check_id']} on {entity}"[:255],
        message=f"{spec.summary if spec else row['check_id']} ({entity}); repair: {row['repair']}",
        threshold=cfg.threshold,
        details={"layers": list(row["layers"]), "truth": row["truth"], "repair": row["repair"]}
        | _details(row["details"]),
        check_id=row["check_id"],
        entity_type=row["entity_type"],
        entity_id=str(row["entity_id"]),
    )


def _group_signal(key: str, rows: pd.DataFrame, cfg: RuleConfig, checks: tuple[str, ...], severity: str) -> Signal:
    entities = sorted(set(rows["entity_type"] + ":" + rows["entity_id"].astype(str)))
    by_check = dict(Counter(rows["check_id"]))
    what = CATALOGUE[key].summary if key in CATALOGUE else "source images missing or corrupted"
    more = " …" if len(entities) > SAMPLE else ""
    return Signal(
        fingerprint=f"group:{key}",
        kind="source" if key == "SOURCE_IMAGES" else "group",
        severity=severity,
        title=f"{key}: {len(entities)} entities failing",
        message=f"{what}: {len(entities)} entities ({', '.join(entities[:SAMPLE])}{more})",
        threshold=cfg.threshold,
        details={"count": len(entities), "by_check": by_check, "sample": entities[:SAMPLE]},
        check_id=key if key in CATALOGUE else None,
        absorbs=checks,
    )


def failure_signals(fails: pd.DataFrame, cfg: RuleConfig, live_groups: set[str]) -> list[Signal]:
    """Per-entity signals, or one group signal per check (and one for the source images) when many fail."""
    signals: list[Signal] = []
    source = fails[fails["check_id"].isin(SOURCE_CHECKS)]
    if source["entity_id"].nunique() >= 2 or ("group:SOURCE_IMAGES" in live_groups and len(source)):
        signals.append(_group_signal("SOURCE_IMAGES", source, cfg, SOURCE_CHECKS, "critical"))
        fails = fails[~fails["check_id"].isin(SOURCE_CHECKS)]
    if not cfg.source_missing_alert:
        fails = fails[fails["check_id"] != "SOURCE_MISSING"]
    for check_id, rows in fails.groupby("check_id", sort=True):
        minimum = cfg.orphan_count if check_id in ORPHAN_CHECKS else cfg.group_min
        if rows["entity_id"].nunique() >= minimum or f"group:{check_id}" in live_groups:
            severity = "critical" if check_id in ORPHAN_CHECKS and len(rows) >= cfg.orphan_count else None
            signals.append(_group_signal(check_id, rows, cfg, (check_id,), severity or worst(rows["severity"])))
        else:
            signals += [_finding_signal(row, cfg) for row in rows.to_dict("records")]
    return signals


def unknown_signals(unknowns: pd.DataFrame, cfg: RuleConfig, unread: dict[str, str] | None = None) -> list[Signal]:
    """One signal per layer that could not be read, whatever the number of checks it left unknown.

    A layer that could not be read as a whole (``unread``: layer -> cause) is a reconciliation failure: it
    alerts at once (``repair_threshold``) even if it left no check unknown. A layer read with some records
    unreadable alerts once it has left checks unknown ``threshold`` runs in a row."""
    unread = unread or {}
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in unknowns.to_dict("records"):
        reason = str(_details(row["details"]).get("reason", ""))
        groups[unknown_cause(reason, list(row["layers"]))].append(row | {"reason": reason})
    return [_unknown_signal(layer, groups.get(layer, []), cfg, unread.get(layer))
            for layer in sorted(set(groups) | set(unread))]  # fmt: skip


def _unknown_signal(layer: str, rows: list[dict], cfg: RuleConfig, cause: str | None) -> Signal:
    reasons = list(dict.fromkeys(row["reason"] for row in rows))
    by_check = dict(Counter(r["check_id"] for r in rows))
    left = f"{len(by_check)} checks unknown ({len(rows)} findings)"
    if cause is not None:
        title, message = f"{layer} could not be read: {left}", f"{layer} could not be read ({cause[:300]}); {left}"
    else:
        title, message = f"{layer} partly unreadable: {left}", f"{layer} partly unreadable; e.g. {reasons[0][:300]}"
    return Signal(
        fingerprint=f"unknown:{layer}",
        kind="unknown",
        severity="warning",
        title=title,
        message=message,
        threshold=cfg.repair_threshold if cause is not None else cfg.threshold,
        details={
            "layer": layer,
            "cause": cause[:300] if cause else None,
            "count": len(rows),
            "checks": len(by_check),
            "by_check": by_check,
            "reasons": [r[:300] for r in reasons[:3]],
            "sample": [f"{r['entity_type']}:{r['entity_id']}" for r in rows[:SAMPLE]],
        },  # fmt: skip
    )


def failing_layer(check_id: str) -> str:
    """The layer a failure counts against: the check's layers other than the truth (else the truth)."""
    spec = CATALOGUE[check_id]
    others = [layer for layer in spec.layers if layer != spec.truth]
    return others[0] if others else spec.truth


def layer_rate_signals(fails: pd.DataFrame, judged: dict[str, int], cfg: RuleConfig) -> list[Signal]:
    """A layer whose failing entities are ``elevated_rate`` or more of the entities judged (nft, block)."""
    domain = {"nft": "nft", "operation": "nft", "block": "block"}
    rows = fails[fails["entity_type"].isin(domain) & fails["check_id"].isin(CATALOGUE)]
    failing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for check_id, entity_type, entity_id in zip(rows["check_id"], rows["entity_type"], rows["entity_id"], strict=True):
        failing[(failing_layer(check_id), domain[entity_type])].add(f"{entity_type}:{entity_id}")
    rates: dict[str, tuple[float, int, int]] = {}
    for (layer, kind), entities in failing.items():
        total = judged.get(kind, 0)
        if total and len(entities) >= RATE_MIN_FAILING and len(entities) / total >= cfg.elevated_rate:
            rates[layer] = max(rates.get(layer, (0.0, 0, 0)), (len(entities) / total, len(entities), total))
    return [
        Signal(
            f"layer:{layer}",
            "layer",
            "warning",
            f"{layer}: elevated failure rate ({rate:.0%})",
            f"{count} of {total} entities fail on {layer} (alert at {cfg.elevated_rate:.0%})",
            cfg.threshold,
            {"rate": round(rate, 4), "failing": count, "judged": total},
        )  # fmt: skip
        for layer, (rate, count, total) in sorted(rates.items())
    ]
