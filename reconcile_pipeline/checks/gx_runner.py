"""Run a Great Expectations 1.x suite (expectations/*.json) over a joined frame, directly (no dagster-ge).

A suite file is GX's own suite JSON (``{"name", "expectations": [{"type", "kwargs", "meta"}]}``);
each expectation's ``meta`` says how it surfaces as a Dagster asset check:

- ``check_name``: the asset check's name (unique in the suite);
- ``severity``: ``WARN`` or ``ERROR``;
- ``blocking``: true only where a failure must stop the repair plan (the frame itself is unsound);
- ``description``: what it asserts, for the UI.

:func:`validate_frame` returns one :class:`ExpectationOutcome` per expectation, with the number of
failing rows and a bounded sample of their entity ids. GX is imported lazily (it costs seconds).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
SAMPLE_SIZE = 20
ID_COLUMN = "entity_id"


@dataclass(frozen=True)
class CheckMeta:
    check_name: str
    severity: str
    blocking: bool
    description: str


@dataclass
class ExpectationOutcome:
    meta: CheckMeta
    expectation_type: str
    success: bool
    unexpected_count: int = 0
    element_count: int = 0
    sample_entity_ids: list[str] = field(default_factory=list)
    error: str | None = None


def suite_path(name: str) -> Path:
    return EXPECTATIONS_DIR / f"{name}.json"


@lru_cache(maxsize=8)
def load_suite_json(name: str) -> dict:
    return json.loads(suite_path(name).read_text())


def check_metas(name: str) -> list[CheckMeta]:
    """The suite's asset checks, read from its JSON without importing GX (cheap: definitions load)."""
    return [_meta(e) for e in load_suite_json(name)["expectations"]]


def _meta(expectation: dict) -> CheckMeta:
    meta = expectation.get("meta", {})
    return CheckMeta(
        check_name=meta["check_name"],
        severity=meta.get("severity", "WARN"),
        blocking=bool(meta.get("blocking", False)),
        description=meta.get("description", expectation["type"]),
    )


def _batch(frame: pd.DataFrame):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas(f"frames-{uuid.uuid4().hex[:8]}").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})


def suite_columns(suite_json: dict) -> set[str]:
    """Every name the suite's kwargs mention (columns, row conditions' identifiers): a superset of the columns
    it reads."""
    return set(
        re.findall(r"[A-Za-z_][A-Za-z0-9_]*", json.dumps([e.get("kwargs", {}) for e in suite_json["expectations"]]))
    )


def _validated_columns(frame: pd.DataFrame, suite_json: dict) -> pd.DataFrame:
    """Only the columns the suite reads, without attrs: GX evaluates each row condition with a resolver per
    column of the frame, and pandas copies ``attrs`` into every intermediate frame (a fixed cost per shard)."""
    wanted = suite_columns(suite_json) | {ID_COLUMN}
    narrow = frame[[column for column in frame.columns if column in wanted]]
    narrow.attrs = {}
    return narrow


def _sample(result: dict) -> list[str]:
    rows = result.get("partial_unexpected_index_list") or []
    ids = [str(row.get(ID_COLUMN)) for row in rows if isinstance(row, dict) and row.get(ID_COLUMN) is not None]
    return list(dict.fromkeys(ids))[:SAMPLE_SIZE]


def _exception_message(info: dict | None) -> str | None:
    """GX reports an expectation that could not run (e.g. a missing column) in exception_info."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(m for m in messages if m) or None


def validate_frame(
    frame: pd.DataFrame, suite_name: str, parameters: dict | None = None, *, id_column: str = ID_COLUMN
) -> list[ExpectationOutcome]:
    """Validate ``frame`` with the named suite; one outcome per expectation, in suite order.

    ``parameters`` fill the suite's ``{"$PARAMETER": name}`` placeholders (e.g. our update authority);
    ``id_column`` names the entity in the failing-row samples."""
    if id_column != ID_COLUMN:
        frame = frame.assign(**{ID_COLUMN: frame[id_column].astype(str)})
    from great_expectations.core.expectation_suite import ExpectationSuite

    suite_json = load_suite_json(suite_name)
    suite = ExpectationSuite(**json.loads(json.dumps(suite_json)))
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_SIZE,
        "unexpected_index_column_names": [ID_COLUMN] if ID_COLUMN in frame.columns else [],
    }
    batch = _batch(_validated_columns(frame, suite_json))
    validation = batch.validate(suite, result_format=result_format, expectation_parameters=parameters or {})
    by_name = {result.expectation_config.meta["check_name"]: result for result in validation.results}
    outcomes = []
    for expectation in suite_json["expectations"]:  # GX does not keep the suite's order in its results
        result = by_name[expectation["meta"]["check_name"]]
        details = result.result or {}
        error = _exception_message(result.exception_info)
        outcomes.append(
            ExpectationOutcome(
                meta=_meta(expectation),
                expectation_type=expectation["type"],
                success=bool(result.success),
                unexpected_count=int(details.get("unexpected_count") or 0),
                element_count=int(details.get("element_count") or len(frame)),
                sample_entity_ids=_sample(details),
                error=error or None,
            )
        )
    return outcomes
