"""bench replicas on a small table: both tools find exactly the rows that were changed, and the targets
are judged from wall times measured in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import build_parser
from bench.suite_replicas import judge
from reconcile_pipeline.sandbox.postgres import server_bin_dir


def test_judge_needs_the_same_rows_and_no_more_time() -> None:
    case = {"differing_rows": 1, "ours_wall_s": 1.0, "reladiff_wall_s": 2.0, "same_rows_as_reladiff": True,
            "ours_exact": True}  # fmt: skip
    assert judge([case], 10)["replica_diff_10_rows_1_differing"]["met"]
    assert not judge([{**case, "same_rows_as_reladiff": False}], 10)["replica_diff_10_rows_1_differing"]["met"]
    assert not judge([{**case, "ours_wall_s": 3.0}], 10)["replica_diff_10_rows_1_differing"]["met"]


@pytest.mark.slow
@pytest.mark.postgres
def test_replicas_suite_finds_the_changed_rows_with_both_tools(tmp_path: Path) -> None:
    pytest.importorskip("reladiff")
    if server_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries")
    args = build_parser().parse_args(["--results", str(tmp_path), "replicas", "--replica-rows", "3000",
                                      "--replica-differences", "0,1,30"])  # fmt: skip
    args.handler(args)
    result = json.loads((tmp_path / "replicas.json").read_text())
    cases = result["result"]["cases"]
    assert [c["differing_rows"] for c in cases] == [0, 1, 30]
    assert all(c["ours_exact"] and c["same_rows_as_reladiff"] for c in cases)
    assert cases[0]["rows_shipped"] == 0 and set(result["targets"]) == {
        f"replica_diff_3000_rows_{n}_differing" for n in (0, 1, 30)
    }
