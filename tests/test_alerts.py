"""Alert rules: thresholds, dedup, grouping, coverage and resolution across a sequence of runs (no world needed)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from reconcile_pipeline.alerts import engine
from reconcile_pipeline.alerts.rules import Coverage, Evaluation, Known, decide
from reconcile_pipeline.alerts.signals import (
    RuleConfig,
    failure_signals,
    layer_rate_signals,
    unknown_cause,
    unknown_signals,
)
from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.cadences import frequent_scope, regular_scope
from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.checks.findings import FINDING_COLUMNS
from reconcile_pipeline.cli import main
from reconcile_pipeline.db.migrate import migrate
from reconcile_pipeline.db.models import TABLES
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.settings import load_settings

GATEWAY = "http://127.0.0.1:9"


def finding(check_id: str, entity_id: str, status: str = "fail", **details) -> dict:
    spec = CATALOGUE[check_id]
    return {
        "check_id": check_id,
        "entity_type": spec.entity_type,
        "entity_id": entity_id,
        "layers": list(spec.layers),
        "status": status,
        "severity": spec.severity,
        "truth": spec.truth,
        "repair": spec.repair if status == "fail" else "NONE",
        "details": json.dumps(details),
    }


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def gateway_down(n: int) -> list[dict]:
    """What one gateway outage looks like: every CID's checks unknown, each with its own details."""
    reason = f"gateways unreadable: {GATEWAY}"
    return [finding(check, f"Qm{i:044d}", "unknown", reason=reason) for i in range(n)
            for check in ("IPFS_CID_INTEGRITY", "IPFS_PROPAGATION_PARTIAL")]  # fmt: skip


# -- pure -------------------------------------------------------------------------------------
def test_unknown_causes_name_the_layer_that_could_not_be_read():
    assert unknown_cause("kv: [kv] server error (HTTP 503) (at http://x/keys)", ["kv"]) == "kv"
    assert unknown_cause("ipfs: KV not read, so no ipfsHash (kv: [kv] timed out)", ["kv", "ipfs"]) == "kv"
    assert unknown_cause(f"gateways unreadable: {GATEWAY}", ["ipfs"]) == "ipfs"
    assert unknown_cause("pinata pin list unreadable", ["pinata"]) == "pinata"
    assert unknown_cause("solana metadata account unreadable: [solana] transport failed", ["solana"]) == "solana"
    assert unknown_cause("", ["database"]) == "database"


def test_a_gateway_down_is_one_signal_not_one_per_cid():
    signals = unknown_signals(frame(gateway_down(5000)), RuleConfig())
    assert [s.fingerprint for s in signals] == ["unknown:ipfs"]
    assert signals[0].details["count"] == 10000 and signals[0].details["by_check"]["IPFS_CID_INTEGRITY"] == 5000


def test_many_failures_of_one_check_are_one_grouped_alert():
    config = RuleConfig(group_min=10, orphan_count=10)
    pins = [finding("IPFS_NOT_PINNED", f"Qm{i}") for i in range(12)]
    orphans = [finding("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", f"mint{i}") for i in range(10)]
    few = [finding("CHAIN_URI_MISMATCH", f"mint{i}") for i in range(2)]
    levels = [finding("SOURCE_MISSING", "Gold"), finding("SOURCE_INVALID", "Silver")]
    signals = {s.fingerprint: s for s in failure_signals(frame(pins + orphans + few + levels), config, set())}
    assert set(signals) == {
        "group:IPFS_NOT_PINNED", "group:BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "group:SOURCE_IMAGES",
        "finding:CHAIN_URI_MISMATCH:nft:mint0", "finding:CHAIN_URI_MISMATCH:nft:mint1",
    }  # fmt: skip
    assert (
        signals["group:IPFS_NOT_PINNED"].severity == "warning"
        and signals["group:IPFS_NOT_PINNED"].details["count"] == 12
    )
    assert signals["group:BLOCKCHAIN_SUCCESS_DATABASE_FAILURE"].severity == "critical"  # many orphans
    assert signals["group:SOURCE_IMAGES"].severity == "critical"  # multiple source images missing or corrupted
    # a live group keeps taking the check's failures, however few, until the check passes everywhere
    regrouped = failure_signals(frame(pins[:2]), config, {"group:IPFS_NOT_PINNED"})
    assert [s.fingerprint for s in regrouped] == ["group:IPFS_NOT_PINNED"]


def test_source_missing_alert_can_be_turned_off():
    rows = frame([finding("SOURCE_MISSING", "Gold"), finding("SOURCE_REGISTRY_DRIFT", "Silver")])
    signals = failure_signals(rows, RuleConfig(source_missing_alert=False), set())
    assert [s.fingerprint for s in signals] == ["finding:SOURCE_REGISTRY_DRIFT:level:Silver"]


def test_threshold_then_one_alert_then_one_resolution():
    config = RuleConfig(threshold=3)
    live: dict[str, Known] = {}
    signals = failure_signals(frame([finding("CHAIN_URI_MISMATCH", "mintA")]), config, set())
    complete = Coverage(findings=True, complete=True)
    actions = []
    for run in range(5):
        evaluation = Evaluation(f"r{run}", signals if run < 4 else [], complete)
        (decision,) = decide(evaluation, live)
        actions.append(decision.action)
        status = {"pending": "pending", "open": "open", "update": "open"}.get(decision.action)
        live = {decision.fingerprint: Known(decision.fingerprint, "finding", status, "warning", decision.streak,
                                            last_run_id=f"r{run}", check_id="CHAIN_URI_MISMATCH",
                                            entity_type="nft", entity_id="mintA")} if status else {}  # fmt: skip
    assert actions == ["pending", "pending", "open", "update", "resolve"]


def test_a_run_that_did_not_read_an_entity_neither_counts_nor_clears_it():
    known = Known("finding:CHAIN_URI_MISMATCH:nft:mintA", "finding", "open", "warning", 3,
                  check_id="CHAIN_URI_MISMATCH", entity_type="nft", entity_id="mintA")  # fmt: skip
    partial = Coverage(findings=True, entities=frozenset({("nft", "mintB")}), layers_read=frozenset({"ipfs"}))
    assert decide(Evaluation("f1", [], partial), {known.fingerprint: known}) == []
    covering = Coverage(findings=True, entities=frozenset({("nft", "mintA")}))
    assert [d.action for d in decide(Evaluation("f2", [], covering), {known.fingerprint: known})] == ["resolve"]
    integrity = Known("finding:IPFS_CID_INTEGRITY:cid:Qm1", "finding", "open", "warning", 3,
                      check_id="IPFS_CID_INTEGRITY", entity_type="cid", entity_id="Qm1")  # fmt: skip
    regular = Coverage(findings=True, complete=True, unjudged_checks=frozenset({"IPFS_CID_INTEGRITY"}))
    assert decide(Evaluation("r1", [], regular), {integrity.fingerprint: integrity}) == []


def _resolves(coverage: Coverage, known: Known) -> bool:
    return [d.action for d in decide(Evaluation("u1", [], coverage), {known.fingerprint: known})] == ["resolve"]


def test_an_unknown_resolves_nothing():
    uri = Known("finding:CHAIN_URI_MISMATCH:nft:mintA", "finding", "open", "warning", 3,
                check_id="CHAIN_URI_MISMATCH", entity_type="nft", entity_id="mintA")  # fmt: skip
    complete = Coverage(findings=True, complete=True)
    assert _resolves(complete, uri)
    assert not _resolves(replace(complete, unknown=frozenset({("CHAIN_URI_MISMATCH", "mintA")})), uri)
    assert _resolves(replace(complete, unknown=frozenset({("CHAIN_URI_MISMATCH", "mintB")})), uri)
    whole = replace(complete, unknown=frozenset({("CHAIN_URI_MISMATCH", "*")}))  # the unseen entities
    assert not _resolves(whole, uri)
    assert _resolves(replace(whole, seen=frozenset({("nft", "mintA")})), uri)  # judged on its own row
    group = Known("group:IPFS_NOT_PINNED", "group", "open", "warning", 3, check_id="IPFS_NOT_PINNED")
    assert not _resolves(replace(complete, unknown=frozenset({("IPFS_NOT_PINNED", "Qm1")})), group)
    mutable = Known("group:CHAIN_METADATA_MUTABLE", "group", "open", "warning", 3, check_id="CHAIN_METADATA_MUTABLE")
    listing = replace(complete, unknown=frozenset({("CHAIN_METADATA_MUTABLE", "*")}))
    assert _resolves(listing, mutable)  # a standing limit (no authority to list by), no layer down
    assert not _resolves(replace(listing, unread=frozenset({"solana"})), mutable)
    source = Known("group:SOURCE_IMAGES", "source", "open", "critical", 3)
    assert not _resolves(replace(complete, unknown=frozenset({("SOURCE_MISSING", "Gold")})), source)
    rate = Known("layer:database", "layer", "open", "warning", 3)  # CHAIN_URI_MISMATCH counts against the DB
    assert not _resolves(replace(complete, unknown=frozenset({("CHAIN_URI_MISMATCH", "mintB")})), rate)
    assert _resolves(replace(complete, unknown=frozenset({("BLOCK_HASH_INVALID", "7")})), rate)


def test_a_layer_that_could_not_be_read_alerts_at_once():
    config = RuleConfig(threshold=3, repair_threshold=1)
    unknowns = frame(gateway_down(2))
    (down,) = unknown_signals(unknowns, config, {"ipfs": "ipfs_objects: 4 of 4 records unreadable"})
    assert (down.fingerprint, down.threshold) == ("unknown:ipfs", 1)
    assert down.title == "ipfs could not be read: 2 checks unknown (4 findings)"
    assert "ipfs_objects: 4 of 4 records unreadable" in down.message
    (partly,) = unknown_signals(unknowns, config)  # read, some CIDs unreadable: after the threshold
    assert partly.threshold == 3 and partly.title.startswith("ipfs partly unreadable")
    (quiet,) = unknown_signals(frame([]), config, {"kv": "blockstore_kv: [kv] refused"})  # no check left unknown
    assert quiet.fingerprint == "unknown:kv" and quiet.threshold == 1


def test_a_single_layer_with_many_failures_is_an_elevated_rate():
    rows = frame([finding("CHAIN_URI_MISMATCH", f"mint{i}") for i in range(5)])
    (signal,) = layer_rate_signals(rows, {"nft": 10, "block": 4}, RuleConfig(elevated_rate=0.2))
    assert signal.fingerprint == "layer:database" and signal.details == {"rate": 0.5, "failing": 5, "judged": 10}
    assert layer_rate_signals(rows, {"nft": 100}, RuleConfig(elevated_rate=0.2)) == []
    assert layer_rate_signals(rows.head(2), {"nft": 2}, RuleConfig(elevated_rate=0.2)) == []  # too few to say


# -- the engine over a sequence of runs, on each backend ----------------------------------------
@pytest.fixture
def settings(tmp_path: Path, db_url: str):
    """Settings over a fresh, migrated database on each backend (SQLite, PostgreSQL)."""
    migrate(db_url)
    return load_settings(None, data_dir=str(tmp_path / "data"), database={"url": db_url})


def write_run(settings, findings: list[dict], nft_ids: list[str] = ()) -> str:
    run_id = str(uuid.uuid4())
    nft = pd.DataFrame({"entity_type": "nft", "entity_id": list(nft_ids), "metadata_cid": None, "metadata_path": "",
                        "image_cid": None, "image_path": "", "metadata_sha256": None})  # fmt: skip
    blocks = pd.DataFrame({"block_number": pd.Series(dtype="int64"), "ref_tx_ids": None, "ref_hash": None})
    for name, data in {
        "consistency_findings": frame(findings),
        "nft_consistency": nft,
        "block_consistency": blocks,
    }.items():
        folder = Path(settings.data_dir) / "snapshots" / name
        folder.mkdir(parents=True, exist_ok=True)
        data.to_parquet(folder / f"{run_id}.parquet", index=False)
    return run_id


def statuses(settings) -> dict[str, str]:
    alerts = AlertStore(settings).frame()
    alerts = alerts[alerts["kind"] != "notice"]
    return dict(zip(alerts["fingerprint"], alerts["status"], strict=True))


def test_a_sequence_of_runs(settings, caplog):
    caplog.set_level("INFO", logger="reconcile_pipeline.alerts")
    uri = finding("CHAIN_URI_MISMATCH", "mintA")
    pins = [finding("IPFS_NOT_PINNED", f"Qm{i}") for i in range(12)]
    failing = [uri, *pins, *gateway_down(300)]
    regular = regular_scope().tags()
    for _ in range(2):
        engine.evaluate_run(settings, write_run(settings, failing, ["mintA"]), regular)
    assert set(statuses(settings).values()) == {"pending"} and not _alert_lines(caplog)
    third = write_run(settings, failing, ["mintA"])
    summary = engine.evaluate_run(settings, third, regular)
    assert summary["decisions"] == {"open": 3}
    assert statuses(settings) == {"finding:CHAIN_URI_MISMATCH:nft:mintA": "open", "group:IPFS_NOT_PINNED": "open",
                                  "unknown:ipfs": "open"}  # fmt: skip
    assert len(_alert_lines(caplog)) == 3  # 12 pins and 600 unknowns: 3 alerts, not 613
    assert engine.evaluate_run(settings, third, regular)["evaluated"] is False  # the same run again: nothing
    engine.evaluate_run(settings, write_run(settings, failing, ["mintA"]), regular)
    assert len(_alert_lines(caplog)) == 3  # still failing: no second alert
    recent = frequent_scope(900, datetime.now(UTC)).tags()  # read mintB only; the gateways answer again
    engine.evaluate_run(settings, write_run(settings, [], ["mintB"]), recent)
    assert statuses(settings)["unknown:ipfs"] == "resolved" and statuses(settings)["group:IPFS_NOT_PINNED"] == "open"
    assert statuses(settings)["finding:CHAIN_URI_MISMATCH:nft:mintA"] == "open"  # not read: not cleared
    engine.evaluate_run(settings, write_run(settings, [], ["mintA", "mintB"]), regular)
    assert set(statuses(settings).values()) == {"resolved"}
    assert len(_resolution_lines(caplog)) == 3
    engine.evaluate_run(settings, write_run(settings, [], ["mintA"]), regular)
    assert len(_resolution_lines(caplog)) == 3  # one resolution notice each, once


def _alert_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "[ALERT" in r.getMessage()]


def _resolution_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "[RESOLVED" in r.getMessage()]


def test_a_short_failure_clears_without_an_alert(settings, caplog):
    caplog.set_level("INFO", logger="reconcile_pipeline.alerts")
    regular = regular_scope().tags()
    engine.evaluate_run(settings, write_run(settings, [finding("DB_STUCK_PENDING", "op1")]), regular)
    engine.evaluate_run(settings, write_run(settings, []), regular)
    assert statuses(settings) == {"finding:DB_STUCK_PENDING:operation:op1": "cleared"} and not _alert_lines(caplog)


def ledger_row(action_id: str, status: str, **extra) -> dict:
    now = datetime.now(UTC)
    return {"id": str(uuid.uuid4()), "action_id": action_id, "idempotency_key": f"key-{action_id}",
            "check_id": "IPFS_NOT_PINNED", "entity_type": "cid", "entity_id": "Qm1", "repair": "IPFS_REPIN_EXACT",
            "status": status, "attempts": 1, "action": {}, "history": [], "created_at": now,
            "updated_at": now} | extra  # fmt: skip


def test_a_failed_repair_alerts_at_once_and_its_success_resolves(settings, caplog):
    caplog.set_level("INFO", logger="reconcile_pipeline.alerts")
    table = TABLES["repair_ledger"]
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect(write=True) as conn:
        conn.execute(table.insert(), [ledger_row("a1", "failed", last_error="pin refused")])
    engine.evaluate_run(settings, "repair-run-1", {}, job_name="repair_apply")  # no findings: a repair run
    assert statuses(settings) == {"repair:a1": "open"}
    (line,) = _alert_lines(caplog)
    assert "critical" in line and "pin refused" in line
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect(write=True) as conn:
        later = datetime.now(UTC) + timedelta(seconds=1)
        conn.execute(table.update().where(table.c.action_id == "a1").values(status="verified", updated_at=later))
    engine.evaluate_run(settings, "repair-run-2", {}, job_name="repair_apply")
    assert statuses(settings) == {"repair:a1": "resolved"}
    notices = AlertStore(settings).frame(("notice",))
    assert any(title == "1 repairs verified" for title in notices["title"])


def test_a_failed_run_alerts_once_and_the_next_success_resolves(settings, caplog):
    caplog.set_level("INFO", logger="reconcile_pipeline.alerts")
    engine.run_failed(settings, "reconcile_frequent", "run-1", "step nft_findings failed")
    engine.run_failed(settings, "reconcile_frequent", "run-2", "step nft_findings failed")
    assert statuses(settings) == {"run:reconcile_frequent": "open"} and len(_alert_lines(caplog)) == 1
    engine.evaluate_run(settings, write_run(settings, []), regular_scope().tags(), job_name="reconcile_frequent")
    assert statuses(settings) == {"run:reconcile_frequent": "resolved"} and len(_resolution_lines(caplog)) == 1


def test_alerts_list_prints_the_open_alerts(settings, tmp_path, capsys):
    engine.run_failed(settings, "reconcile_deep", "run-1", "step blockstore_kv failed")
    config = tmp_path / "settings.toml"
    config.write_text(
        f'data_dir = "{settings.data_dir}"\n[database]\nurl = "{settings.database.url.get_secret_value()}"\n'
    )
    assert main(["alerts", "list", "--config", str(config)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "open" in line and "critical" in line and "run of reconcile_deep failed" in line
    assert main(["alerts", "list", "--all", "--json", "--config", str(config)]) == 0
    (alert,) = json.loads(capsys.readouterr().out)
    assert alert["fingerprint"] == "run:reconcile_deep" and alert["deliveries"] == {"opened": {"log": "delivered"}}


def _snapshot(folder: Path, name: str, run_id: str, frame_: pd.DataFrame, status: dict) -> None:
    frame_.attrs["read_status"] = status
    (folder / "snapshots" / name).mkdir(parents=True, exist_ok=True)
    frame_.to_parquet(folder / "snapshots" / name / f"{run_id}.parquet", index=False)


def test_a_layer_is_unread_when_its_read_failed_as_a_whole(tmp_path: Path):
    from reconcile_pipeline.alerts.inputs import unread_layers

    settings = load_settings(None, data_dir=str(tmp_path))  # k = 2 gateways of 3
    unavailable = {"layer": "ipfs", "status": "unavailable", "rows": 1, "unreadable": 1}

    def objects(run_id: str, answers: dict[str, str]) -> None:
        rows = pd.DataFrame({"cid": ["Qm1"], "status": ["unavailable"], "gateway_statuses": [json.dumps(answers)]})
        _snapshot(tmp_path, "ipfs_objects", run_id, rows, unavailable)

    objects("two-answered", {"g1": "missing", "g2": "missing", "g3": "unavailable"})  # on none that answered
    assert unread_layers(settings, "two-answered") == {}  # the object is unknown, IPFS is not down
    objects("one-answered", {"g1": "missing", "g2": "unavailable", "g3": "unavailable"})
    assert unread_layers(settings, "one-answered") == {"ipfs": "ipfs_objects: 1 of 1 records unreadable"}
    kv = {"layer": "kv", "status": "unavailable", "message": "[kv] transport failed (refused)"}
    _snapshot(tmp_path, "blockstore_kv", "kv-down", pd.DataFrame({"key": []}), kv)
    _snapshot(tmp_path, "blockstore_r2", "kv-down", pd.DataFrame({"key": []}), {"layer": "r2", "status": "ok"})
    assert unread_layers(settings, "kv-down") == {"kv": "blockstore_kv: [kv] transport failed (refused)"}
