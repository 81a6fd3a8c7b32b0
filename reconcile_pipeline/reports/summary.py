"""The findings of one run, summarized for people: counts by check, the worst entities, unknowns and why.

Pure functions over the findings frame (``checks/findings.py``). Every result is bounded (a top N, a
sample per check, grouped reasons), so a run of a million findings summarizes into a few hundred rows;
the details JSON is parsed only for the rows that are shown (or, for unknowns, once per distinct text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checks.catalogue import CATALOGUE
from ..checks.nft_checks_common import WHOLE_CHECK
from .frame_tools import compact, lookup, plain

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_WEIGHT = {"critical": 100.0, "warning": 10.0, "info": 1.0}
UNKNOWN_WEIGHT = 0.5


def repair_kind(code: str) -> str:
    """automatic | manual | recheck | none, for a repair code of the catalogue."""
    return {"MANUAL_REVIEW": "manual", "RECHECK": "recheck", "NONE": "none"}.get(str(code), "automatic")


def details_text(details: object, limit: int = 240) -> str:
    """A finding's details as ``key: value; …`` (JSON text or a dict), cut at ``limit`` characters."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return details[:limit]
    if not isinstance(details, dict):
        return "" if details is None else str(details)[:limit]
    parts = [
        f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}"
        for k, v in details.items()
        if v not in (None, "", [], {})
    ]
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (check, severity): fail and unknown counts, with the catalogue's words; worst first."""
    columns = [
        "check_id",
        "severity",
        "fail",
        "unknown",
        "total",
        "entity_type",
        "layers",
        "truth",
        "repair",
        "summary",
    ]
    if findings.empty:
        return pd.DataFrame(columns=columns)
    counts = findings.groupby(["check_id", "severity", "status"]).size().unstack("status", fill_value=0)
    counts = plain(counts.reindex(columns=["fail", "unknown"], fill_value=0).reset_index())
    counts["total"] = counts["fail"] + counts["unknown"]
    spec = counts["check_id"].map(CATALOGUE.get)
    counts["entity_type"] = [s.entity_type if s else "" for s in spec]
    counts["layers"] = [" ".join(s.layers) if s else "" for s in spec]
    counts["truth"] = [s.truth if s else "" for s in spec]
    counts["repair"] = [s.repair if s else "" for s in spec]
    counts["summary"] = [s.summary if s else "not in the catalogue" for s in spec]
    counts["_rank"] = counts["severity"].map(SEVERITY_RANK).fillna(9)
    counts = counts.sort_values(["_rank", "fail", "unknown", "check_id"], ascending=[True, False, False, True])
    return counts[columns].reset_index(drop=True)


def totals(findings: pd.DataFrame) -> dict[str, int]:
    fails = findings[findings["status"] == "fail"]
    by_severity = fails["severity"].value_counts()
    named = fails[fails["entity_id"] != WHOLE_CHECK]
    return {
        "findings": len(findings),
        "fail": len(fails),
        "unknown": int((findings["status"] == "unknown").sum()),
        **{severity: int(by_severity.get(severity, 0)) for severity in SEVERITY_RANK},
        "failing_entities": int(_entity_keys(named).nunique()),
        "checks_failing": int(fails["check_id"].nunique()),
    }


def _entity_keys(frame: pd.DataFrame) -> pd.Series:
    return frame["entity_key"] if "entity_key" in frame else compact(frame)["entity_key"]


@dataclass
class EntityFindings:
    entity_type: str
    entity_id: str
    score: float
    critical: int
    warning: int
    info: int
    unknown: int
    findings: pd.DataFrame  # check_id, status, severity, repair, details (text), at most ``per_entity`` rows
    more: int  # findings not shown


def worst_entities(findings: pd.DataFrame, limit: int, per_entity: int = 8) -> list[EntityFindings]:
    """The ``limit`` entities with the heaviest findings (critical 100, warning 10, info 1, unknown 0.5)."""
    named = findings[findings["entity_id"] != WHOLE_CHECK]
    if named.empty or limit <= 0:
        return []
    if "entity_key" not in named:
        named = compact(named)
    failing = named["status"] == "fail"
    weight = np.where(failing, lookup(named["severity"], SEVERITY_WEIGHT, 1.0), UNKNOWN_WEIGHT)
    scored = pd.DataFrame(
        {
            "entity_key": named["entity_key"].to_numpy(),
            "weight": weight,
            "severity": np.where(failing, named["severity"].astype(object), "unknown"),
        }
    )
    per = scored.groupby("entity_key", sort=False)["weight"].sum()
    top = per.nlargest(limit, keep="first")
    chosen = scored["entity_key"].isin(top.index).to_numpy()
    counts = scored[chosen].groupby(["entity_key", "severity"], sort=False).size().unstack(fill_value=0)
    groups = dict(list(plain(named[chosen]).groupby("entity_key", sort=False)))
    return [_entity(groups[key], float(score), counts.loc[key], per_entity) for key, score in top.items()]


def _entity(rows: pd.DataFrame, score: float, count: pd.Series, per: int) -> EntityFindings:
    key = (str(rows["entity_type"].iloc[0]), str(rows["entity_id"].iloc[0]))
    rows = rows.assign(_rank=lookup(rows["severity"], SEVERITY_RANK, 9) + (rows["status"] != "fail") * 10)
    rows = rows.sort_values(["_rank", "check_id"])
    shown = rows.head(per)[["check_id", "status", "severity", "repair", "details"]].copy()
    shown["details"] = [details_text(d) for d in shown["details"]]
    return EntityFindings(
        entity_type=key[0],
        entity_id=key[1],
        score=score,
        critical=int(count.get("critical", 0)),
        warning=int(count.get("warning", 0)),
        info=int(count.get("info", 0)),
        unknown=int(count.get("unknown", 0)),
        findings=shown.reset_index(drop=True),
        more=max(len(rows) - per, 0),
    )


def _reasons(details: pd.Series) -> pd.Series:
    """The ``reason`` of each unknown finding's details, parsing each distinct text once."""
    codes, uniques = pd.factorize(details.astype(str))
    parsed = []
    for text in uniques:
        try:
            value = json.loads(text)
        except ValueError:
            value = {}
        parsed.append(str(value.get("reason") or "no reason given") if isinstance(value, dict) else text)
    return pd.Series(np.asarray(parsed, dtype=object)[codes] if len(uniques) else [], index=details.index, dtype=object)


def unknown_reasons(findings: pd.DataFrame, limit: int = 40, examples: int = 4) -> pd.DataFrame:
    """Unknown findings grouped by why: reason, checks, count, example entities; most frequent first."""
    columns = ["reason", "checks", "count", "examples"]
    unknown = findings[findings["status"] == "unknown"]
    if unknown.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        {
            "reason": _reasons(unknown["details"]),
            "check_id": unknown["check_id"],
            "entity_id": unknown["entity_id"],
        }
    )
    grouped = frame.groupby("reason", sort=False)
    table = pd.DataFrame(
        {
            "checks": grouped["check_id"].agg(lambda s: sorted(set(s))),
            "count": grouped.size(),
            "examples": grouped["entity_id"].agg(lambda s: list(dict.fromkeys(s.head(examples * 4)))[:examples]),
        }
    ).reset_index()
    return table.sort_values(["count", "reason"], ascending=[False, True]).head(limit)[columns].reset_index(drop=True)


def finding_samples(findings: pd.DataFrame, per_check: int) -> dict[str, tuple[pd.DataFrame, int]]:
    """Check -> (its first ``per_check`` findings, failures first, details as text; how many there are)."""
    sizes = findings.groupby("check_id", sort=False, observed=True).size()
    failing_first = findings.iloc[np.argsort((findings["status"] != "fail").to_numpy(), kind="stable")]
    heads = failing_first.groupby("check_id", sort=False, observed=True).head(per_check)
    columns = ["entity_type", "entity_id", "status", "severity", "repair", "details"]
    out: dict[str, tuple[pd.DataFrame, int]] = {}
    for check_id, rows in heads.groupby("check_id", sort=False, observed=True):
        shown = plain(rows[columns]).reset_index(drop=True)
        shown["details"] = [details_text(d) for d in shown["details"]]
        out[str(check_id)] = (shown, int(sizes[check_id]))
    return out
