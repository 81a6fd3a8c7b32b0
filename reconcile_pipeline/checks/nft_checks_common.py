"""Shared pieces of the NFT checks: findings on the joined frame's entities, unknowns, masks.

Every check returns findings built here, so each fail and unknown names the row's entity (the mint, or
the operation id while the DB row has no mint) and carries its evidence in ``details``. A ``Verdict``
holds a check's fail and unknown masks over the joined frame, so that checks which defer to a sharper
diagnosis (DB_STUCK_PENDING, CHAIN_METADATA_MISSING) can reuse the other check's masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .catalogue import CATALOGUE
from .findings import empty_findings, findings_from
from .nft_join_keys import omap

_EMPTY = empty_findings()
WHOLE_CHECK = "*"  # entity id of an unknown that covers every entity the unreadable layer would have named


@dataclass
class Verdict:
    """A check's outcome per row of the joined frame: ``fail`` and ``unknown`` masks (never both true)."""

    fail: pd.Series
    unknown: pd.Series

    @classmethod
    def of(cls, fail: pd.Series, unknown: pd.Series) -> Verdict:
        fail = fail.fillna(False).astype(bool)
        return cls(fail, unknown.fillna(False).astype(bool) & ~fail)


def _is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype)


def flag(series: pd.Series, value: object = True) -> pd.Series:
    """A plain bool mask: ``series == value`` with NA as False (object, boolean and string columns alike)."""
    if isinstance(value, str) and _is_text(series):
        return series.eq(value).fillna(False).astype(bool)
    if isinstance(value, bool) and series.dtype == bool:
        return series.eq(value)
    return series.astype("object").eq(value).fillna(False).astype(bool)


def isin(series: pd.Series, values: object) -> pd.Series:
    values = list(values)
    if _is_text(series) and all(isinstance(value, str) for value in values):
        return series.isin(values).fillna(False).astype(bool)
    return series.astype("object").isin(values).fillna(False).astype(bool)


def text(series: pd.Series, missing: str = "none") -> pd.Series:
    """Values as text for messages, ``missing`` for NA (pandas' ``astype(str)`` keeps NA as NA)."""
    if _is_text(series):
        return series.fillna(missing)
    return omap(series, lambda value: missing if value is None else str(value))


def present(series: pd.Series) -> pd.Series:
    if _is_text(series):
        return series.ne("").fillna(False).astype(bool) & series.notna()
    values = series.astype("object")
    try:
        differs = pd.Series(values.to_numpy() != "", index=series.index).astype(bool)
    except (TypeError, ValueError):
        differs = values.map(lambda v: v != "")
    return series.notna() & differs


def emit(
    check_id: str,
    rows: pd.DataFrame,
    *,
    status: str = "fail",
    details: list[str] | None = None,
    repair: str | pd.Series | None = None,
    entity: str = "entity_id",
) -> pd.DataFrame:
    """Findings of ``check_id`` for ``rows``; nft checks take each row's own entity type (nft or operation)."""
    if rows.empty:
        return _EMPTY.copy()
    if details:
        rows = rows.assign(**{column: _plain(rows[column]) for column in details})
    frame = findings_from(check_id, rows, entity, status=status, details=details)
    if repair is not None and status == "fail":  # findings_from cannot take a Series repair (`repair or ...`)
        frame["repair"] = repair.loc[rows.index].to_numpy() if isinstance(repair, pd.Series) else repair
    if CATALOGUE[check_id].entity_type == "nft" and "entity_type" in rows and entity == "entity_id":
        frame["entity_type"] = rows["entity_type"].to_numpy()
    return frame


def _plain(values: pd.Series) -> pd.Series:
    """JSON-ready values: NA -> None, numpy scalars -> Python ones (so details never hold NaN)."""
    plain = values.astype("object")
    return plain.where(values.notna(), None)


def emit_verdict(
    check_id: str,
    nft: pd.DataFrame,
    verdict: Verdict,
    *,
    details: list[str],
    reason: pd.Series | str,
    repair: str | pd.Series | None = None,
    entity: str = "entity_id",
) -> pd.DataFrame:
    """Fail findings for ``verdict.fail`` rows; unknown findings (with ``reason``) for ``verdict.unknown`` rows."""
    parts = []
    if verdict.fail.any():
        parts.append(emit(check_id, nft[verdict.fail], details=details, repair=repair, entity=entity))
    if verdict.unknown.any():
        reasons = reason if isinstance(reason, pd.Series) else pd.Series(reason, index=nft.index)
        unknown_rows = nft[verdict.unknown].assign(reason=reasons[verdict.unknown].astype("object"))
        parts.append(emit(check_id, unknown_rows, status="unknown", details=["reason", *details], entity=entity))
    if not parts:
        return _EMPTY.copy()
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def whole_check_unknown(check_id: str, reason: str) -> pd.DataFrame:
    """One unknown finding standing for every entity the unreadable layer would have named."""
    row = pd.DataFrame({"entity_id": [WHOLE_CHECK], "reason": [reason]})
    return findings_from(check_id, row, "entity_id", status="unknown", details=["reason"])


def pick(condition: pd.Series, then: pd.Series | str, otherwise: pd.Series | str) -> pd.Series:
    """``then`` where ``condition`` holds, else ``otherwise`` (values or Series), as an object Series."""
    index = condition.index
    a = then if isinstance(then, pd.Series) else pd.Series(then, index=index)
    b = otherwise if isinstance(otherwise, pd.Series) else pd.Series(otherwise, index=index)
    holds = condition.fillna(False).astype(bool)
    if _is_text(a) and _is_text(b):
        return a.where(holds, b)
    return a.astype("object").where(holds, b.astype("object"))


def layer_reason(layer: str, errors: pd.Series) -> pd.Series:
    """``"<layer> unreadable: <error>"`` per row."""
    return omap(errors, lambda e: f"{layer} unreadable: {e if isinstance(e, str) and e else 'no reason'}")
