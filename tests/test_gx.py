"""The GX runner: suites from expectations/*.json validated with GX 1.x, outcomes matched by check name."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reconcile_pipeline.checks import gx_runner
from reconcile_pipeline.checks.gx_runner import check_metas, validate_frame


@pytest.fixture
def suite(tmp_path, monkeypatch):
    """A throwaway suite file: many expectations of the same type, to catch results matched by position."""
    expectations = [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": f"c{i}", "value_set": ["ok"]},
         "meta": {"check_name": f"c{i}_ok", "severity": "WARN" if i % 2 else "ERROR", "blocking": i == 0}}
        for i in range(6)
    ]
    expectations.append(
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "owner", "value_set": {"$PARAMETER": "owners"}, "row_condition": 'c0=="ok"',
                    "condition_parser": "pandas"},
         "meta": {"check_name": "owner_ours", "severity": "WARN"}}
    )
    expectations.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "absent"},
                         "meta": {"check_name": "absent_column", "severity": "ERROR"}})
    (tmp_path / "t.json").write_text(json.dumps({"name": "t", "expectations": expectations}))
    monkeypatch.setattr(gx_runner, "EXPECTATIONS_DIR", tmp_path)
    gx_runner.load_suite_json.cache_clear()
    yield "t"
    gx_runner.load_suite_json.cache_clear()


def test_outcomes_match_their_expectation_not_their_position(suite):
    frame = pd.DataFrame({f"c{i}": ["ok"] * 30 for i in range(6)} | {"entity_id": [f"e{k}" for k in range(30)],
                                                                    "owner": ["us"] * 30})
    frame.loc[[3, 7], "c4"] = "bad"  # only c4 fails, on two rows
    frame.loc[5, "owner"] = "them"
    frame.loc[6, ["owner", "c0"]] = ["them", "bad"]  # excluded by the row condition... but c0 now fails
    outcomes = {o.meta.check_name: o for o in validate_frame(frame, suite, {"owners": ["us"]})}
    assert [name for name, o in outcomes.items() if not o.success] == ["c0_ok", "c4_ok", "owner_ours", "absent_column"]
    assert outcomes["c4_ok"].unexpected_count == 2 and outcomes["c4_ok"].sample_entity_ids == ["e3", "e7"]
    assert outcomes["c0_ok"].sample_entity_ids == ["e6"]
    assert outcomes["owner_ours"].sample_entity_ids == ["e5"]  # row 6 is outside the condition
    assert outcomes["absent_column"].error and "absent" in outcomes["absent_column"].error


def test_only_the_columns_the_suite_reads_reach_gx_and_the_outcomes_are_the_same(suite, monkeypatch):
    frame = pd.DataFrame({f"c{i}": ["ok"] * 10 for i in range(6)} | {"entity_id": [f"e{k}" for k in range(10)],
                                                                    "owner": ["us"] * 10, "unused": range(10)})
    frame.loc[4, "owner"] = "them"
    frame.attrs = {"consistencyMetrics": {"big": list(range(1000))}}
    seen = []
    batch = gx_runner._batch
    monkeypatch.setattr(gx_runner, "_batch", lambda narrow: seen.append(narrow) or batch(narrow))
    outcomes = validate_frame(frame, suite, {"owners": ["us"]})
    assert list(seen[0].columns) == [f"c{i}" for i in range(6)] + ["entity_id", "owner"] and seen[0].attrs == {}
    assert frame.attrs and "unused" in frame  # the caller's frame is untouched
    assert [(o.meta.check_name, o.unexpected_count) for o in outcomes if not o.success] == [
        ("owner_ours", 1), ("absent_column", 0)]  # fmt: skip
    assert {"c0", "owner", "absent", "ok"} <= gx_runner.suite_columns(gx_runner.load_suite_json(suite))


def test_samples_are_bounded(suite):
    frame = pd.DataFrame({f"c{i}": ["bad"] * 500 for i in range(6)} | {"entity_id": [f"e{k}" for k in range(500)],
                                                                      "owner": ["us"] * 500, "absent": 1})
    outcome = validate_frame(frame, suite, {"owners": ["us"]})[1]
    assert outcome.unexpected_count == 500 and len(outcome.sample_entity_ids) == gx_runner.SAMPLE_SIZE


def test_metas_come_from_the_json_without_gx(suite):
    metas = check_metas(suite)
    assert [m.check_name for m in metas][:2] == ["c0_ok", "c1_ok"]
    assert metas[0].blocking and metas[0].severity == "ERROR" and not metas[1].blocking


@pytest.mark.parametrize("name", ["nft_consistency", "block_consistency"])
def test_shipped_suites_are_well_formed(name):
    metas = check_metas(name)
    assert len({m.check_name for m in metas}) == len(metas)
    assert {m.severity for m in metas} <= {"WARN", "ERROR"}
    assert any(m.blocking for m in metas) and not all(m.blocking for m in metas)
    assert all(m.severity == "ERROR" for m in metas if m.blocking)
