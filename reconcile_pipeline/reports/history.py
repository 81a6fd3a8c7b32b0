"""Trends across runs: findings by check over time, time to detect, time to repair.

Built from the ``run_history`` table and the ``findings`` rows of the last N runs up to the reported one.
A finding's *key* is (check_id, entity_type, entity_id). An *episode* is a stretch of runs in which a key
fails:

- it starts at the first run that reports the key failing;
- it ends (is repaired) at the first later run of full scope (every cadence but ``frequent`` and
  ``immediate``, which look at a recent window only) that judged the key and did not report it; a run in
  which the key is unknown (its layer could not be read) neither ends nor starts an episode;
- **time to detect** = its start − the last earlier full-scope run that judged the key clean: the longest
  the fault can have been there unnoticed (an upper bound; none when the key failed from the first run of
  the window on);
- **time to repair** = its end − its start; open episodes have an age instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checks.nft_checks_common import WHOLE_CHECK
from .frame_tools import compact, plain

PARTIAL_SCOPE = frozenset({"frequent", "immediate"})
KEY = ["check_id", "entity_type", "entity_id"]
KEY_COLUMNS = ["run_id", *KEY, "status", "severity"]
RUN_COLUMNS = [
    "run_id",
    "cadence",
    "started_at",
    "status",
    "full_scope",
    "fail",
    "unknown",
    "critical",
    "warning",
    "info",
]
EPISODE_COLUMNS = [
    *KEY,
    "first_seen_run",
    "first_seen_at",
    "last_seen_at",
    "resolved_run",
    "resolved_at",
    "time_to_detect_s",
    "time_to_repair_s",
    "open",
    "age_s",
]
CLEAN, FAIL, UNKNOWN, UNJUDGED = 0, 1, 2, 3


@dataclass
class History:
    runs: pd.DataFrame  # RUN_COLUMNS, oldest first, the reported run last
    by_check: pd.DataFrame  # run_id, check_id, status, severity, count
    episodes: pd.DataFrame  # EPISODE_COLUMNS
    times: pd.DataFrame  # per check: episodes, open, resolved, median/max time to detect and to repair
    note: str | None = None  # why the history is partial (e.g. the database could not be read)
    metrics: pd.DataFrame | None = None  # per run with stored metrics: run_id + METRIC_TREND columns


def window(history: pd.DataFrame | None, run_id: str, started_at: pd.Timestamp | None, limit: int) -> pd.DataFrame:
    """The last ``limit`` runs up to and including ``run_id`` (appended when the table lacks it)."""
    base = pd.DataFrame(columns=["run_id", "cadence", "started_at", "status"])
    keep = ["run_id", "cadence", "started_at", "status"]
    keep += ["metrics"] if history is not None and "metrics" in history else []
    runs = history[keep] if history is not None else base
    runs = runs.sort_values("started_at", kind="stable", ignore_index=True)
    here = runs.index[runs["run_id"] == run_id]
    if len(here):
        runs = runs.iloc[: here[-1] + 1]
    else:
        earlier = runs if started_at is None else runs[runs["started_at"] <= started_at]
        row = {"run_id": run_id, "cadence": "unknown", "started_at": started_at, "status": "unknown"}
        runs = pd.concat([earlier, pd.DataFrame([row])], ignore_index=True)
    return runs.tail(max(limit, 1)).reset_index(drop=True)


def run_counts(runs: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """RUN_COLUMNS: each run's failing findings by severity and its unknowns."""
    fails = keys[keys["status"] == "fail"].groupby(["run_id", "severity"]).size().unstack(fill_value=0)
    unknown = keys[keys["status"] == "unknown"].groupby("run_id").size()
    out = runs.copy()
    out["full_scope"] = ~out["cadence"].isin(PARTIAL_SCOPE)
    for severity in ("critical", "warning", "info"):
        column = fails[severity] if severity in fails else pd.Series(dtype="int64")
        out[severity] = out["run_id"].map(column).fillna(0).astype("int64")
    out["fail"] = out[["critical", "warning", "info"]].sum(axis=1).astype("int64")
    out["unknown"] = out["run_id"].map(unknown).fillna(0).astype("int64")
    return out[RUN_COLUMNS]


def _states(runs: pd.DataFrame, keys: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The key × run matrix of CLEAN / FAIL / UNKNOWN / UNJUDGED, and the keys (row i = key code i)."""
    named = keys[(keys["entity_id"] != WHOLE_CHECK).to_numpy()]
    entity = named["entity_key"].to_numpy()
    combined = named["check_id"].cat.codes.to_numpy().astype(np.int64) * (int(entity.max(initial=0)) + 1) + entity
    codes, uniques = pd.factorize(combined, sort=False)
    first = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    key_frame = plain(named[KEY].iloc[first]).reset_index(drop=True)
    run_index = pd.Series(range(len(runs)), index=runs["run_id"].to_numpy())
    states = np.full((len(key_frame), len(runs)), CLEAN, dtype=np.int8)
    states[:, ~runs["full_scope"].to_numpy(dtype=bool)] = UNJUDGED
    columns = run_index.reindex(named["run_id"].astype(object).to_numpy()).to_numpy()
    for status, value in (("unknown", UNKNOWN), ("fail", FAIL)):  # fail wins over unknown
        chosen = (named["status"] == status).to_numpy() & ~np.isnan(columns)
        states[codes[chosen], columns[chosen].astype(int)] = value
    whole = keys[(keys["entity_id"] == WHOLE_CHECK).to_numpy()]  # a whole check unknown: none of its keys judged
    for run_id, check_id in zip(whole["run_id"], whole["check_id"], strict=True):
        if run_id in run_index:
            rows = (key_frame["check_id"] == check_id).to_numpy()
            column = states[:, run_index[run_id]]
            column[rows & (column == CLEAN)] = UNKNOWN
    return states, key_frame


def episodes(runs: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """EPISODE_COLUMNS, one row per episode (see the module docstring)."""
    if keys.empty or runs.empty:
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    states, key_frame = _states(runs, keys)
    count = len(key_frame)
    start, clean, detect_from, last_fail = (np.full(count, -1) for _ in range(4))
    found: list[tuple[np.ndarray, ...]] = []
    for r in range(states.shape[1]):
        state = states[:, r]
        opening = (state == FAIL) & (start < 0)
        start[opening], detect_from[opening] = r, clean[opening]
        last_fail[state == FAIL] = r
        closing = np.flatnonzero((state == CLEAN) & (start >= 0))
        found.append((closing, start[closing], detect_from[closing], last_fail[closing], np.full(len(closing), r)))
        start[closing] = -1
        clean[state == CLEAN] = r
    still = np.flatnonzero(start >= 0)
    found.append((still, start[still], detect_from[still], last_fail[still], np.full(len(still), -1)))
    parts = [np.concatenate(column) for column in zip(*found, strict=True)]
    return _episode_frame(runs, key_frame, *parts)


def _seconds(delta: np.ndarray) -> np.ndarray:
    return delta / np.timedelta64(1, "s")  # NaT -> nan


def _episode_frame(runs: pd.DataFrame, key_frame: pd.DataFrame, key, first, since, last, end) -> pd.DataFrame:
    times = pd.to_datetime(runs["started_at"], utc=True).dt.tz_localize(None).to_numpy()
    ids = runs["run_id"].to_numpy(dtype=object)

    def at(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, times[np.maximum(index, 0)], np.datetime64("NaT"))

    frame = key_frame.iloc[key].reset_index(drop=True)
    first_at, resolved_at = at(first), at(end)
    frame["first_seen_run"] = ids[first]
    frame["first_seen_at"] = first_at
    frame["last_seen_at"] = at(last)
    frame["resolved_run"] = np.where(end >= 0, ids[np.maximum(end, 0)], None)
    frame["resolved_at"] = resolved_at
    frame["time_to_detect_s"] = _seconds(first_at - at(since))
    frame["time_to_repair_s"] = _seconds(resolved_at - first_at)
    frame["open"] = end < 0
    frame["age_s"] = np.where(end < 0, _seconds(times[-1] - first_at), np.nan)
    for column in ("first_seen_at", "last_seen_at", "resolved_at"):
        frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
    order = frame.sort_values(["open", "first_seen_at"], ascending=[False, True], kind="stable").index
    return frame.loc[order, EPISODE_COLUMNS].reset_index(drop=True)


def time_stats(episode_frame: pd.DataFrame) -> pd.DataFrame:
    """Per check: episodes, open, resolved, median and max time to detect and to repair (seconds)."""
    columns = [
        "check_id",
        "episodes",
        "open",
        "resolved",
        "detect_median_s",
        "detect_max_s",
        "repair_median_s",
        "repair_max_s",
        "oldest_open_s",
    ]
    if episode_frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = episode_frame.groupby("check_id")
    stats = pd.DataFrame(
        {
            "episodes": grouped.size(),
            "open": grouped["open"].sum().astype("int64"),
            "detect_median_s": grouped["time_to_detect_s"].median(),
            "detect_max_s": grouped["time_to_detect_s"].max(),
            "repair_median_s": grouped["time_to_repair_s"].median(),
            "repair_max_s": grouped["time_to_repair_s"].max(),
            "oldest_open_s": grouped["age_s"].max(),
        }
    )
    stats["resolved"] = stats["episodes"] - stats["open"]
    return stats.reset_index().sort_values(["open", "episodes", "check_id"], ascending=[False, False, True])[columns]


METRIC_TREND = {  # column -> (section, key) of a run's stored consistencyMetrics
    "consistent": ("crossLayer", "consistentOperations"),
    "inconsistent": ("crossLayer", "inconsistentOperations"),
    "unverified": ("crossLayer", "unverifiedOperations"),
}


def metric_trend(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Per run that stored seed 000's consistencyMetrics (run_history.metrics): the cross-layer counts."""
    if "metrics" not in runs:
        return None
    rows = []
    for run_id, stored in zip(runs["run_id"], runs["metrics"], strict=True):
        metrics = stored.get("consistencyMetrics") if isinstance(stored, dict) else None
        if isinstance(metrics, dict):
            rows.append({"run_id": run_id} | {c: (metrics.get(s) or {}).get(k) for c, (s, k) in METRIC_TREND.items()})
    return pd.DataFrame(rows, columns=["run_id", *METRIC_TREND]) if rows else None


def build_history(runs: pd.DataFrame, keys: pd.DataFrame, note: str | None = None) -> History:
    """Trends from the window of runs and the finding keys of those runs (KEY_COLUMNS)."""
    keys = compact(keys[keys["run_id"].isin(set(runs["run_id"]))])
    counted = run_counts(runs, keys)
    by_check = keys.groupby(["run_id", "check_id", "status", "severity"], observed=True).size()
    by_check = plain(by_check.rename("count").reset_index())
    episode_frame = episodes(counted, keys)
    return History(counted, by_check, episode_frame, time_stats(episode_frame), note, metric_trend(runs))
