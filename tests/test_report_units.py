"""The report's parts without a world: episodes and their times, secrets, escaping, runs, layers, charts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from reconcile_pipeline.checks.findings import FINDING_COLUMNS
from reconcile_pipeline.db.migrate import migrate
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.reports import ReportError, RunFrames, build_report, load_run
from reconcile_pipeline.reports.charts import bar_rows, nice_ceiling, number
from reconcile_pipeline.reports.history import build_history
from reconcile_pipeline.reports.layers import layer_health
from reconcile_pipeline.reports.redact import MASK
from reconcile_pipeline.reports.runs import check_run_id
from reconcile_pipeline.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def finding(check: str, entity: str, status: str = "fail", **details) -> dict:
    severity = "critical" if check.startswith("CHAIN") else "warning"
    repair = "MANUAL_REVIEW" if status == "fail" else "NONE"
    layers = ["database", "solana"]
    return dict(check_id=check, entity_type="nft", entity_id=entity, layers=layers, status=status,
                severity=severity, truth="solana", repair=repair, details=json.dumps(details))  # fmt: skip


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=FINDING_COLUMNS)


def keys(run_id: str, *rows: dict) -> pd.DataFrame:
    return frame(*rows).assign(run_id=run_id)[["run_id", "check_id", "entity_type", "entity_id", "status", "severity"]]


def test_episodes_time_to_detect_and_to_repair():
    hour = timedelta(hours=1)
    runs = pd.DataFrame({
        "run_id": ["r0", "r1", "r2", "r3"],
        "cadence": ["regular", "frequent", "regular", "deep"],
        "started_at": [T0, T0 + hour, T0 + 2 * hour, T0 + 5 * hour],
        "status": "SUCCESS",
    })  # fmt: skip
    found = pd.concat([
        keys("r0", finding("CHAIN_URI_MISMATCH", "A"), finding("CHAIN_METADATA_MUTABLE", "D")),
        keys("r1", finding("CHAIN_URI_MISMATCH", "B")),  # frequent: A absent is not judged
        keys("r2", finding("CHAIN_URI_MISMATCH", "B"), finding("CHAIN_METADATA_MUTABLE", "*", "unknown", reason="x")),
        keys("r3", finding("CHAIN_URI_MISMATCH", "B"), finding("CHAIN_URI_MISMATCH", "C", "unknown", reason="y")),
    ])  # fmt: skip
    history = build_history(runs, found)
    got = history.episodes.set_index("entity_id")
    assert set(got.index) == {"A", "B", "D"}  # C was only unknown
    a, b, d = got.loc["A"], got.loc["B"], got.loc["D"]
    assert (a["resolved_run"], a["time_to_repair_s"]) == ("r2", 7200.0)  # not ended by the frequent run
    assert pd.isna(a["time_to_detect_s"])  # failing from the first run of the window
    assert (b["first_seen_run"], bool(b["open"]), b["age_s"]) == ("r1", True, 4 * 3600.0)
    assert b["time_to_detect_s"] == 3600.0  # r0, a full run, judged it clean
    assert (d["resolved_run"], d["time_to_repair_s"]) == ("r3", 5 * 3600.0)  # the whole-check unknown in r2 kept it
    assert history.runs[["fail", "unknown", "critical"]].values.tolist() == [[2, 0, 2], [1, 0, 1], [1, 1, 1], [1, 1, 1]]
    times = history.times.set_index("check_id")
    assert times.loc["CHAIN_URI_MISMATCH", ["episodes", "open", "resolved"]].tolist() == [2, 1, 1]
    assert times.loc["CHAIN_URI_MISMATCH", "repair_median_s"] == 7200.0


def settings_for(tmp_path, **secrets) -> Settings:
    return Settings(data_dir=tmp_path / "data", database={"url": f"sqlite:///{tmp_path / 'reconcile.db'}"}, **secrets)


def test_secrets_are_masked_in_the_html_and_every_export(tmp_path):
    jwt, token = "jwt-secret-0123456789", "kv-token-abcdefghij"
    settings = settings_for(tmp_path, pinata={"jwt": jwt}, blockstore={"kv_api_token": token})
    leaked = frame(finding("CHAIN_URI_MISMATCH", f"mint-{jwt}", uri=f"https://x/?token={token}"),
                   finding("CHAIN_METADATA_MUTABLE", "m2", "unknown", reason=f"refused with {jwt}"))  # fmt: skip
    nft = pd.DataFrame({"entity_id": ["m1"], "db_error": [f"auth {token}"], "tags": [[jwt, "ok"]]})
    result = build_report(settings, frames=RunFrames("run-s", leaked, nft=nft), out_dir=tmp_path / "out")
    html = result.html_path.read_text()
    assert jwt not in html and token not in html and MASK in html
    for export in result.exports:
        text = pq.read_table(export.path).to_pandas().to_string()
        assert jwt not in text and token not in text, export.name
    joined = pd.read_parquet(tmp_path / "out" / "nft_consistency.parquet")
    assert joined["db_error"].tolist() == [f"auth {MASK}"] and list(joined["tags"][0]) == [MASK, "ok"]


def test_text_from_findings_is_escaped_and_nothing_can_load(tmp_path):
    evil = frame(finding("CHAIN_URI_MISMATCH", "<script>alert(1)</script>", uri="<img src=http://example.com/x>"))
    result = build_report(settings_for(tmp_path), frames=RunFrames("run-x", evil), out_dir=tmp_path / "out")
    html = result.html_path.read_text()
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "default-src 'none'" in html and re.search(r"<[^>]*\s(src|href)=['\"]?(https?:|//)", html) is None


def test_without_a_database_the_report_says_so(tmp_path):
    result = build_report(settings_for(tmp_path), frames=RunFrames("run-1", frame(finding("CHAIN_URI_MISMATCH", "m"))))
    assert result.html_path == tmp_path / "data" / "reports" / "run-1" / "report.html"
    assert "run history unavailable" in result.data.history.note
    assert list(result.data.history.runs["run_id"]) == ["run-1"]
    assert any("repair ledger not read" in note for note in result.data.notes)


def test_a_past_run_loads_from_the_findings_table_when_its_parquet_is_gone(tmp_path):
    settings = settings_for(tmp_path)
    url = settings.database.url.get_secret_value()
    migrate(url)
    with DatabaseClient(url) as db:
        db.write_findings("run-db", [finding("CHAIN_URI_MISMATCH", "m1") | {"details": {"uri": "a"}}])
        db.record_run("run-db", cadence="regular", started_at=T0, finished_at=T0, status="SUCCESS")
    frames = load_run(settings, "run-db")
    assert frames.findings_source == "database" and frames.findings["entity_id"].tolist() == ["m1"]
    result = build_report(settings, "run-db", out_dir=tmp_path / "out")
    assert result.data.run.cadence == "regular" and result.data.totals["fail"] == 1
    assert any("findings table" in note for note in result.data.notes)
    with pytest.raises(ReportError, match="no findings for run run-none"):
        load_run(settings, "run-none")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x" * 65, "-flag"])
def test_run_ids_cannot_name_paths(bad):
    with pytest.raises(ReportError):
        check_run_id(bad)


def test_a_layer_that_could_not_be_read_is_unreadable_not_healthy():
    down = pd.DataFrame(columns=["mint"])
    down.attrs["read_status"] = {"layer": "solana", "status": "unavailable", "message": "connection refused"}
    ok = pd.DataFrame({"signature": ["s"]})
    ok.attrs["read_status"] = {"layer": "solana", "status": "ok", "rows": 1}
    findings = frame(finding("CHAIN_URI_MISMATCH", "m", "unknown", reason="down"))
    layers = {
        h.layer: h
        for h in layer_health(findings, {"solana_metadata_accounts": down, "solana_transaction_statuses": ok})
    }
    assert (layers["solana"].verdict, layers["solana"].unknown) == ("unreadable", 1)
    assert layers["solana"].messages == ["solana_metadata_accounts: connection refused"]
    assert (layers["database"].verdict, layers["kv"].verdict) == ("partial", "not read")


def test_chart_helpers():
    assert [nice_ceiling(v) for v in (0, 3, 7, 12, 260)] == [1, 5, 10, 20, 500]
    assert [number(v) for v in (999, 31_250, 1_500_000)] == ["999", "31.2k", "1.5M"]
    svg = bar_rows([("<check>", [(3.0, "#d64545", "3 failing <x>")])], label="by check")
    assert svg.startswith("<svg") and "&lt;check&gt;" in svg and "<title>3 failing &lt;x&gt;</title>" in svg


def ledger_row(action_id: str, repair: str, entity: str, status: str, events: list[tuple[str, datetime]]) -> dict:
    history = [{"at": at.isoformat(), "event": name} for name, at in events]
    return dict(action_id=action_id, idempotency_key=f"key-{action_id}", check_id="BLOCK_TIER_MISSING",
                entity_type="block", entity_id=entity, repair=repair, status=status, attempts=1, action={},
                history=history, created_at=events[0][1], updated_at=events[-1][1])  # fmt: skip


def test_the_repair_ledger_says_what_was_done_after_the_run(tmp_path):
    from sqlalchemy import insert

    from reconcile_pipeline.db.models import TABLES

    settings = settings_for(tmp_path)
    url = settings.database.url.get_secret_value()
    migrate(url)
    minute = timedelta(minutes=1)
    with DatabaseClient(url) as db:
        db.record_run("r1", cadence="regular", started_at=T0, finished_at=T0, status="SUCCESS")
        db.record_run("r2", cadence="regular", started_at=T0 + 60 * minute, finished_at=T0, status="SUCCESS")
        with db.connect(write=True) as conn:
            at = {n: T0 + n * minute for n in (1, 2, 3, 61, 62)}
            conn.execute(insert(TABLES["repair_ledger"]), [
                ledger_row("a1", "REHYDRATE_BLOCK", "7", "verified", [("planned", at[1]), ("verified", at[3])]),
                ledger_row("a2", "REWRITE_TX_INDEX", "tx-1", "failed", [("planned", at[1]), ("failed", at[2])]),
                ledger_row("a3", "REWRITE_TX_INDEX", "tx-2", "planned", [("planned", at[1])]),
                ledger_row("a4", "REHYDRATE_BLOCK", "9", "verified", [("planned", at[61]), ("verified", at[62])]),
            ])  # fmt: skip
            conn.execute(insert(TABLES["manual_review_queue"]), [dict(
                idempotency_key="key-q", action_id="q1", check_id="BLOCK_HASH_INVALID", entity_type="block",
                entity_id="3", repair="MANUAL_REVIEW", source="plan", status="open", reason="tampering", action={},
                history=[])])  # fmt: skip
    findings = frame(finding("CHAIN_URI_MISMATCH", "m"))
    first = build_report(settings, frames=RunFrames("r1", findings), out_dir=tmp_path / "r1").data
    activity = first.repairs.activity
    assert list(activity["action_id"]) == ["a2", "a1"]  # a3 only planned, a4 after r2 started
    assert first.metrics == {} and first.repairs.events == 2
    counts = first.repairs.ledger_counts.set_index(["repair", "status"])
    assert counts.loc[("REHYDRATE_BLOCK", "verified"), ["count", "median_s"]].tolist() == [2, 90.0]  # 2 and 1 min
    assert first.repairs.queue_total == 1 and list(first.repairs.queue["entity_id"]) == ["3"]
    assert first.repairs.rehydrated == []  # nothing was rehydrated before r1
    second = build_report(settings, frames=RunFrames("r2", findings), out_dir=tmp_path / "r2").data
    assert second.repairs.rehydrated == [7] and list(second.repairs.activity["action_id"]) == ["a4"]
