"""Findings: the one output of every check, as a DataFrame with a fixed schema.

Columns (DESIGN §3): check_id, entity_type, entity_id, layers (list of layer names), status
(fail | unknown), severity (info | warning | critical), truth, repair (an action code or
MANUAL_REVIEW), details (a JSON object as text). Checks build findings vectorized from a frame
of offending rows with :func:`findings_from`; :func:`unknown_from` builds the unknown twin
with the reason a layer could not be read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd

from .catalogue import CATALOGUE

FINDING_COLUMNS = ["check_id", "entity_type", "entity_id", "layers", "status", "severity", "truth", "repair", "details"]
STATUSES = ("fail", "unknown")
SEVERITIES = ("info", "warning", "critical")


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in FINDING_COLUMNS})


def _details(rows: pd.DataFrame, details: Callable[[pd.Series], dict] | list[str] | None) -> list[str]:
    if details is None:
        return ["{}"] * len(rows)
    if isinstance(details, list):
        records = rows[details].to_dict("records")
        return [json.dumps(r, default=str, sort_keys=True) for r in records]
    return [json.dumps(details(row), default=str, sort_keys=True) for _, row in rows.iterrows()]


def findings_from(
    check_id: str,
    rows: pd.DataFrame,
    entity_id: str | pd.Series,
    *,
    status: str = "fail",
    details: Callable[[pd.Series], dict] | list[str] | None = None,
    severity: str | pd.Series | None = None,
    repair: str | pd.Series | None = None,
) -> pd.DataFrame:
    """One finding per row of ``rows``; ``entity_id`` is a column name or a Series aligned with rows."""
    if rows.empty:
        return empty_findings()
    spec = CATALOGUE[check_id]
    ids = rows[entity_id] if isinstance(entity_id, str) else entity_id
    frame = pd.DataFrame(
        {
            "check_id": check_id,
            "entity_type": spec.entity_type,
            "entity_id": ids.astype(str).to_numpy(),
            "layers": [list(spec.layers)] * len(rows),
            "status": status,
            "severity": spec.severity if severity is None else severity,
            "truth": spec.truth,
            "repair": "NONE" if status != "fail" else (spec.repair if repair is None else repair),
            "details": _details(rows, details),
        },
        index=range(len(rows)),
    )
    return frame[FINDING_COLUMNS]  # unknown findings always carry repair NONE: nothing is repaired from unknown


def unknown_from(
    check_id: str, rows: pd.DataFrame, entity_id: str | pd.Series, reason: str | pd.Series
) -> pd.DataFrame:
    """Unknown findings: the check could not be judged because a layer could not be read."""
    reasons = reason if isinstance(reason, pd.Series) else pd.Series([reason] * len(rows), index=rows.index)
    with_reason = rows.assign(_reason=reasons.to_numpy())
    return findings_from(
        check_id, with_reason, entity_id, status="unknown", details=lambda row: {"reason": row["_reason"]}
    )


def concat_findings(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if not part.empty]
    if not parts:
        return empty_findings()
    frame = pd.concat(parts, ignore_index=True)
    return frame.drop_duplicates(subset=["check_id", "entity_type", "entity_id", "status"]).reset_index(drop=True)


def findings_records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready dicts (details parsed back into objects) for --json output and tests."""
    records = frame.to_dict("records")
    for record in records:
        record["layers"] = list(record["layers"])
        record["details"] = json.loads(record["details"]) if isinstance(record["details"], str) else record["details"]
    return records
