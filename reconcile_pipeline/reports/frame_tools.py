"""Make big findings frames cheap to summarize: low-cardinality columns as categories, ids as plain objects.

A million findings hold a few dozen check ids, a handful of statuses and severities: as categories,
grouping, filtering and taking rows cost integer work instead of string work.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LOW_CARDINALITY = ("run_id", "check_id", "entity_type", "status", "severity", "truth", "repair")


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy with LOW_CARDINALITY columns as categories, ``entity_id`` as Python strings, and
    ``entity_key``: one int64 per (entity_type, entity_id), so entities group and match as integers."""
    out = frame.copy(deep=False)
    for column in LOW_CARDINALITY:
        if column in out and not isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("category")
    if "entity_id" in out:
        if out["entity_id"].dtype != object:
            out["entity_id"] = out["entity_id"].astype(str).astype(object)
        ids, uniques = pd.factorize(out["entity_id"].to_numpy(), sort=False)
        types = out["entity_type"].cat.codes.to_numpy().astype(np.int64) if "entity_type" in out else 0
        out["entity_key"] = types * (len(uniques) + 1) + ids
    return out


def lookup(series: pd.Series, mapping: dict, default: float) -> np.ndarray:
    """``mapping[value]`` for each value (``default`` when absent), as a float array; fast on categories."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        table = np.array([mapping.get(c, default) for c in series.cat.categories] + [default], dtype=float)
        return table[series.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing default
    return series.map(mapping).fillna(default).to_numpy(dtype=float)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A small result with its categorical columns back as plain objects (for display and mapping)."""
    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: object for c in categorical}) if categorical else frame
