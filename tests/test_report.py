"""The consistency report on a known world: its numbers are the manifest's, across two runs.

One world with every fault; run 1 as built; then the Gold source image restored from its backup and
Solana down for run 2 (the chain checks are unknown). Both runs go through Dagster, so the
``consistency_report`` asset writes each report; the CLI rebuilds past ones. (The cadence rules of the
trends, e.g. that a frequent run cannot end an episode, are pinned in test_report_units.py.)
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.cli import main
from reconcile_pipeline.reports import build_report, list_runs
from reconcile_pipeline.reports.redact import secret_values
from reconcile_pipeline.reports.summary import SEVERITY_WEIGHT
from reconcile_pipeline.runner import run_reconciliation
from tests.test_report_chromium import Chromium, chromium_binary
from tests.worldkit import expected_findings, finding_keys, running_world

DOC = Path(__file__).resolve().parents[1] / "docs" / "report-schema.md"
JOINED = ("nft_consistency", "block_consistency")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-world")
    config = str(folder / "reconcile.toml")
    with running_world(folder, seed=13, nfts=24, blocks=12) as (world, settings):
        first = run_reconciliation(config, cadence="regular")
        shutil.copy(folder / "backup/assets/images/Gold.png", folder / "assets/images/Gold.png")
        world.servers.solana.faults.mode = "down"
        second = run_reconciliation(config, cadence="deep")
        yield {"settings": settings, "config": config, "manifest": world.manifest(), "runs": (first, second)}


@pytest.fixture(scope="module")
def first(runs):
    return build_report(runs["settings"], runs["runs"][0].run_id)


def test_every_run_wrote_its_report_through_the_asset(runs):
    for summary in runs["runs"]:
        assert summary.success
        meta = summary.assets["consistency_report"]
        html = Path(meta["report"])
        assert html.name == "report.html" and html.parent.name == summary.run_id
        assert meta["report_url"] == html.resolve().as_uri()
        assert meta["report_bytes"] == html.stat().st_size
        assert all(Path(e["path"]).is_file() for e in meta["exports"].values())
        assert summary.run_id in html.read_text()


def test_counts_by_check_and_severity_are_the_manifests(runs, first):
    truth = expected_findings(runs["manifest"])
    data = first.data
    assert data.totals["fail"] == len(truth) and data.totals["unknown"] == 0
    by_check = Counter((check, CATALOGUE[check].severity) for check, _, _ in truth)
    assert {(r.check_id, r.severity): r.fail for r in data.checks.itertuples()} == by_check
    assert data.totals["critical"] == sum(n for (_, s), n in by_check.items() if s == "critical")
    exported = pd.read_parquet(first.folder / "findings.parquet")
    assert finding_keys(exported) == truth and set(exported["run_id"]) == {first.run_id}


def test_health_per_layer_counts_the_findings_naming_it(runs, first):
    truth = expected_findings(runs["manifest"])
    for layer in first.data.layers:
        named = [CATALOGUE[c].severity for c, _, _ in truth if layer.layer in CATALOGUE[c].layers]
        assert (layer.critical, layer.warning, layer.unknown) == (named.count("critical"), named.count("warning"), 0)
        assert layer.read == "ok"
        assert layer.verdict == ("critical" if "critical" in named else "warning" if named else "healthy")


def test_the_worst_entities_are_the_heaviest_in_the_manifest(runs, first):
    scores = Counter()
    for check, entity_type, entity_id in expected_findings(runs["manifest"]):
        scores[(entity_type, entity_id)] += SEVERITY_WEIGHT[CATALOGUE[check].severity]
    worst = first.data.worst
    assert len(worst) == runs["settings"].reports.worst_entities
    assert [e.score for e in worst] == sorted(scores.values(), reverse=True)[: len(worst)]
    for entity in worst:
        assert scores[(entity.entity_type, entity.entity_id)] == entity.score
        assert len(entity.findings) + entity.more == entity.critical + entity.warning + entity.info


def test_metrics_are_the_consistency_assets_metrics(runs, first):
    summary = runs["runs"][0]
    seed = summary.assets["nft_findings"]["consistencyMetrics"]
    for group, values in seed.items():
        assert {k: first.data.metrics[group][k] for k in values} == values
    blocks = summary.assets["block_findings"]["blockStatus"]
    assert {k: v for k, v in blocks.items() if not k.endswith("_findings")} == first.data.metrics["blockStore"]
    exported = pd.read_parquet(first.folder / "metrics.parquet")
    cross = exported[exported["group"] == "crossLayer"].set_index("metric")["value"]
    assert cross["consistentOperations"] == seed["crossLayer"]["consistentOperations"]


def test_repairs_split_automatic_from_review(first):
    findings = pd.read_parquet(first.folder / "findings.parquet")
    plan = first.data.repairs.plan.set_index("repair")["findings"].to_dict()
    assert plan == findings["repair"].value_counts().to_dict()
    assert first.data.repairs.review_total == int((findings["repair"] == "MANUAL_REVIEW").sum())


def test_unknowns_say_why_when_solana_is_down(runs):
    second = build_report(runs["settings"], runs["runs"][1].run_id)
    solana = next(layer for layer in second.data.layers if layer.layer == "solana")
    assert solana.verdict == "unreadable" and solana.messages
    unknowns = second.data.unknowns
    assert unknowns["count"].sum() == second.data.totals["unknown"] > 0
    assert "CHAIN_METADATA_MUTABLE" in {c for checks in unknowns["checks"] for c in checks}
    assert all(re.search("solana|chain", reason.lower()) for reason in unknowns["reason"])


def test_trends_follow_episodes_across_runs(runs):
    first, second = runs["runs"]
    report = build_report(runs["settings"], second.run_id)
    history = report.data.history
    assert list(history.runs["run_id"]) == [first.run_id, second.run_id]
    assert list(history.runs["cadence"]) == ["regular", "deep"]
    assert history.runs["unknown"].tolist() == [0, report.data.totals["unknown"]]
    started = history.runs.set_index("run_id")["started_at"]
    episodes = history.episodes.set_index(["check_id", "entity_id"])
    for key in (("SOURCE_MISSING", "Gold"), ("SOURCE_MISSING_ACTIVE_NFT", "Gold")):  # restored before run 2
        episode = episodes.loc[key]
        assert not episode["open"] and episode["resolved_run"] == second.run_id
        expected_s = (started[second.run_id] - started[first.run_id]).total_seconds()
        assert episode["time_to_repair_s"] == pytest.approx(expected_s, abs=1e-6)  # seconds through floats
    mutable = history.episodes[history.episodes["check_id"] == "CHAIN_METADATA_MUTABLE"]
    assert len(mutable) == 1 and bool(mutable["open"].iloc[0])  # unknown in run 2: not repaired
    assert episodes.loc[("SOURCE_MISSING", "Diamond"), "open"]
    times = history.times.set_index("check_id")
    assert times.loc["SOURCE_MISSING", ["episodes", "open", "resolved"]].tolist() == [2, 1, 1]
    run1 = history.by_check[(history.by_check["run_id"] == first.run_id) & (history.by_check["status"] == "fail")]
    assert run1.groupby("check_id")["count"].sum().to_dict() == dict(
        Counter(c for c, _, _ in expected_findings(runs["manifest"]))
    )


def test_each_run_stores_its_metrics_and_the_report_charts_their_trend(runs):
    from reconcile_pipeline.layers.database import DatabaseClient

    with DatabaseClient(runs["settings"].database.url.get_secret_value()) as db:
        stored = db.read_run_history().set_index("run_id")["metrics"]
    trend = build_report(runs["settings"], runs["runs"][1].run_id).data.history.metrics.set_index("run_id")
    for summary in runs["runs"]:
        seed = summary.assets["nft_findings"]["consistencyMetrics"]
        assert stored[summary.run_id]["consistencyMetrics"] == seed
        assert stored[summary.run_id]["blockStatus"] == summary.assets["block_findings"]["blockStatus"]
        cross = seed["crossLayer"]
        assert trend.loc[summary.run_id].tolist() == [
            cross["consistentOperations"],
            cross["inconsistentOperations"],
            cross["unverifiedOperations"],
        ]
    assert trend.loc[runs["runs"][1].run_id, "unverified"] > 0  # Solana was down in run 2


def test_reconcile_report_builds_any_past_run(runs, first, tmp_path, capsys):
    run_id, config = runs["runs"][0].run_id, runs["config"]
    assert main(["report", "--run", run_id, "--out", str(tmp_path / "r1"), "--config", config]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "r1" / "report.html") in printed and run_id in printed
    again = pd.read_parquet(tmp_path / "r1" / "findings.parquet")
    pd.testing.assert_frame_equal(again, pd.read_parquet(first.folder / "findings.parquet"))
    assert main(["report", "--list", "--config", config]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [s.run_id for s in runs["runs"]]
    assert list(list_runs(runs["settings"])["run_id"]) == [s.run_id for s in runs["runs"]]
    assert main(["report", "--config", config, "--out", str(tmp_path / "latest")]) == 0
    assert runs["runs"][1].run_id in capsys.readouterr().out
    assert main(["report", "--run", "no-such-run", "--config", config]) == 2
    assert "no findings for run no-such-run" in capsys.readouterr().err


def documented_schemas() -> dict[str, list[tuple[str, str]]]:
    sections = re.split(r"^### `(\w+)\.parquet`$", DOC.read_text(), flags=re.M)
    rows = r"^\| `(\w+)` \| ([^|]+) \|"
    return {name: re.findall(rows, body, flags=re.M) for name, body in zip(sections[1::2], sections[2::2], strict=True)}


def test_exports_have_the_documented_schema_and_load_in_pandas_and_duckdb(first):
    docs = documented_schemas()
    assert {e.name for e in first.exports} == {f"{name}.parquet" for name in docs}
    for export in first.exports:
        name = export.name.removesuffix(".parquet")
        schema = pq.read_schema(export.path)
        described = [(f.name, str(f.type)) for f in schema]
        if name in JOINED:
            assert [n for n, _ in described] == [n for n, _ in docs[name]]
        else:
            assert described == [(n, t.strip()) for n, t in docs[name]]
        assert all(f.metadata[b"description"] for f in schema)
        assert schema.metadata[b"reconcile.run_id"].decode() == first.run_id
        assert len(pd.read_parquet(export.path)) == export.rows
    duckdb = pytest.importorskip("duckdb")
    counted = duckdb.sql(f"SELECT check_id, count(*) AS n FROM '{first.folder}/findings.parquet' GROUP BY 1").df()
    assert (
        dict(zip(counted["check_id"], counted["n"], strict=True))
        == first.data.checks.groupby("check_id")["fail"].sum().to_dict()
    )


def test_no_secret_reaches_the_report(runs, first):
    secrets = secret_values(runs["settings"])
    assert len(secrets) >= 4  # the world's Pinata JWT, KV token, R2 keys, database URL
    files = [first.html_path, *(e.path for e in first.exports)]
    texts = [first.html_path.read_text()] + [pq.read_table(p).to_pandas().to_string() for p in files[1:]]
    assert not [s for s in secrets for text in texts if s in text]


def test_the_report_opens_in_chromium_and_shows_its_charts(runs, tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    html = Path(runs["runs"][1].assets["consistency_report"]["report"])
    assert "<script" not in html.read_text() and html.read_text().count("<svg") >= 5
    browser = Chromium(binary)
    try:
        visit = browser.visit(html.as_uri())
    finally:
        browser.close()
    assert visit.requests == [html.as_uri()]
    assert visit.failed == [] and visit.errors == []
    shot = tmp_path / "report.png"
    shot.write_bytes(visit.screenshot)
    pixels = chart_pixels(shot)
    minimum = {"critical": 5000, "warning": 5000, "ok": 2000, "unknown": 1000}  # bars, donuts, the unknown column
    assert {name: pixels[name] >= least for name, least in minimum.items()} == dict.fromkeys(minimum, True), pixels


def chart_pixels(path: Path) -> dict[str, int]:
    """Pixels painted in the charts' colours (bars, donuts, columns), per colour."""
    from PIL import Image

    colors = {"critical": (214, 69, 69), "warning": (229, 159, 43), "ok": (60, 157, 109), "unknown": (152, 162, 179)}
    counts = Counter(Image.open(path).convert("RGB").getdata())
    return {name: counts[rgb] for name, rgb in colors.items()}
