"""Repairs on a local world with every catalogue fault injected: plan, apply, run again, apply again.

One scenario (module fixture), each step's evidence kept for the tests below:

1. the content archive holds what earlier runs verified (here: every object of the clean twin world);
2. ``reconcile repair plan --json`` and a dry run (``apply`` without ``--execute``) write nothing;
3. ``apply --execute`` without approval repairs everything automatic but refuses the destructive delete;
4. ``apply --execute --approve ID`` deletes it; then a new reconciliation finds only the manual findings;
5. a second ``apply --execute --approve ID`` changes nothing: ledger, queue and every layer identical.

Before and after, the truth layers are compared byte for byte: chain accounts and signatures, and each KV
block's core (only the documented ipfsHash/ipfsGatewayUrl of a re-pinned block may change).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
from types import SimpleNamespace

import pytest

from reconcile_pipeline.alerts.signals import RuleConfig, failure_signals
from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.cli import main
from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.actions import AUTOMATIC
from reconcile_pipeline.repairs.apply import apply_plan
from reconcile_pipeline.repairs.archive import ContentArchive
from reconcile_pipeline.repairs.current import judge_now, plan_and_apply, plan_now
from reconcile_pipeline.repairs.ledger import Ledger, rehydrated_blocks
from reconcile_pipeline.repairs.plan_nft import record_id_for
from reconcile_pipeline.reports.repairs import repair_summary
from reconcile_pipeline.sandbox.build import build_world
from reconcile_pipeline.sandbox.worlddata import WorldSpec
from tests.worldkit import expected_findings, finding_keys, running_world

SEED, NFTS, BLOCKS = 13, 24, 16  # 16 blocks: room for every block fault


def cli(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    text = out.getvalue()
    return code, json.loads(text) if "--json" in argv else text


def truth_state(world) -> dict:
    """The truth layers: every chain account and signature; each KV block's core."""
    ledger, kv = world.servers.ledger, world.servers.kv
    cores = {key: fmt.core_sha256(json.loads(kv.value(key))) for key in kv.keys() if key.startswith("vdc:block:")}
    return {"accounts": copy.deepcopy(ledger._accounts), "signatures": copy.deepcopy(ledger._signatures),
            "kv_cores": cores}  # fmt: skip


def layer_state(world, settings) -> dict:
    """Everything a repair could write: KV, R2, pins, content, the minting rows, the source files."""
    servers = world.servers
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        ops = db.read_minting_operations().sort_values("id").to_dict("records")
    import boto3

    s3 = boto3.client("s3", endpoint_url=settings.blockstore.r2_endpoint_url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.blockstore.r2_bucket).get("Contents", [])]
    r2 = {key: s3.get_object(Bucket=settings.blockstore.r2_bucket, Key=key)["Body"].read() for key in keys}
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in world.assets_dir.iterdir()}
    store = servers.store
    return {"kv": {k: servers.kv.value(k) for k in servers.kv.keys()}, "r2": r2, "ops": ops, "files": files,
            "pins": sorted(p.cid for p in store.pins()), "pin_calls": store._pin_serial,
            "content": sorted(store._objects)}  # fmt: skip


def ledger_state(settings) -> tuple[list[dict], list[dict]]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        ledger = Ledger(db, "test")
        return ledger.rows(), ledger.queue(None)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repairs")
    config = str(folder / "reconcile.toml")
    with running_world(folder, seed=SEED, nfts=NFTS, blocks=BLOCKS) as (world, settings):
        archive = ContentArchive.from_settings(settings)
        for cid, data in build_world(WorldSpec(seed=SEED, nfts=NFTS, blocks=BLOCKS, faults=[])).content.items():
            archive.put(cid, data)
        s = SimpleNamespace(world=world, settings=settings, config=config, manifest=world.manifest())
        s.truth_before, s.layers_before = truth_state(world), layer_state(world, settings)
        s.plan_text = cli("repair", "plan", "--config", config)[1]
        s.first_judged, s.first_plan = plan_now(settings)
        s.dry = apply_plan(settings, s.first_plan)
        s.ledger_after_dry, s.layers_after_dry = ledger_state(settings), layer_state(world, settings)
        s.first = apply_plan(settings, s.first_plan, execute=True)
        s.destructive = s.first_plan.loc[s.first_plan["destructive"], "action_id"].tolist()
        s.bad_approve = cli("repair", "apply", "--config", config, "--execute", "--approve", "Rnope")
        s.second_code, s.second_json = cli("repair", "apply", "--config", config, "--execute", "--json",
                                           "--approve", s.destructive[0])  # fmt: skip
        s.judged = judge_now(settings)
        s.truth_after = truth_state(world)
        s.layers_after, s.ledger_after = layer_state(world, settings), ledger_state(settings)
        _, s.third = plan_and_apply(settings, execute=True, approve=s.destructive)
        s.layers_third, s.ledger_third = layer_state(world, settings), ledger_state(settings)
        s.queue_code, s.queue_json = cli("repair", "queue", "--config", config, "--json")
        s.queue_text = cli("repair", "queue", "--config", config)[1]
        with DatabaseClient(settings.database.url.get_secret_value()) as db:
            s.rehydrated = rehydrated_blocks(db)
        yield s


def manual_findings(manifest: dict) -> set[tuple[str, str, str]]:
    """The manifest's findings whose repair is not automatic (catalogue), with the sharper cases."""
    expected = {key for key in expected_findings(manifest) if CATALOGUE[key[0]].repair not in AUTOMATIC}
    gone = next(f for f in manifest["faults"] if f["fault"] == "BLOCK_GONE")
    expected |= {(f["check_id"], f["entity_type"], f["entity_id"]) for f in gone["expected_findings"]}  # no copy
    dsif = next(f["entity_id"] for f in manifest["faults"] if f["fault"] == "DATABASE_SUCCESS_IPFS_FAILURE")
    expected.discard(("PARTNER_VERIFICATION_FAILED", "nft", dsif))  # its failing step is the JSON: re-pinned
    tx_failed = next(f["entity_id"] for f in manifest["faults"] if f["fault"] == "TX_FAILED_DB_CONFIRMED")
    expected.add(("TX_FAILED_DB_CONFIRMED", "nft", tx_failed))  # the chain still holds that NFT: not "mark FAILED"
    return expected


def test_plan_and_dry_run_write_nothing(scenario):
    s = scenario
    plan = s.first_plan
    assert plan.attrs.get("blocked", []) == []
    planned = set(zip(plan["check_id"], plan["entity_type"], plan["entity_id"], strict=True))
    assert planned == expected_findings(s.manifest) == finding_keys(s.first_judged.findings)  # one entry each
    assert list(plan.loc[plan["destructive"], "check_id"]) == ["PENDING_ALREADY_MINED"]
    acting = plan[~plan["repair"].isin(["NONE", "RECHECK"])]  # warnings and re-checks: entries that write nothing
    assert [o["action_id"] for o in s.dry.outcomes] == list(acting["action_id"])
    assert set(s.dry.counts()) == {"would apply", "would queue", "needs approval"}
    assert s.ledger_after_dry == ([], []) and s.layers_after_dry == s.layers_before


def test_first_apply_repairs_everything_automatic_but_refuses_the_destructive_delete(scenario):
    s = scenario
    mined = next(f["entity_id"] for f in s.manifest["faults"] if f["fault"] == "PENDING_ALREADY_MINED")
    assert set(s.first.counts()) == {"verified", "queued", "needs approval"}
    waiting = [
        (o["check_id"], o["entity_id"], o["action_id"]) for o in s.first.outcomes if o["result"] == "needs approval"
    ]
    assert waiting == [("PENDING_ALREADY_MINED", mined, s.destructive[0])]
    assert s.bad_approve[0] == 2  # an approval naming no destructive action stops everything
    second = {o["action_id"]: o["result"] for o in s.second_json["outcomes"]}
    assert second[s.destructive[0]] == "verified" and s.second_code == 0
    assert set(second.values()) == {"verified", "in queue"}


def test_after_repair_only_manual_findings_remain(scenario):
    s = scenario
    assert finding_keys(s.judged.findings) == manual_findings(s.manifest)
    assert finding_keys(s.judged.findings, "unknown") == set()


def test_the_truth_layers_are_untouched(scenario):
    s = scenario
    assert s.truth_after["accounts"] == s.truth_before["accounts"]
    assert s.truth_after["signatures"] == s.truth_before["signatures"]
    assert s.truth_after["kv_cores"] == s.truth_before["kv_cores"]
    changed = [
        k for k, v in s.layers_after["kv"].items() if k.startswith("vdc:block:") and s.layers_before["kv"].get(k) != v
    ]
    repinned = next(f["entity_id"] for f in s.manifest["faults"] if f["fault"] == "BLOCK_IPFS_HASH_INVALID")
    assert changed == [fmt.block_key(int(repinned))]  # only its ipfsHash/ipfsGatewayUrl (cores are equal above)
    block = json.loads(s.layers_after["kv"][changed[0]])
    assert block["ipfsHash"].startswith("Qm") and block["ipfsGatewayUrl"].endswith(block["ipfsHash"])


def test_repaired_layers_hold_the_truth(scenario):
    s = scenario
    faults = {f["fault"]: f["entity_id"] for f in s.manifest["faults"]}
    kv, r2 = s.layers_after["kv"], s.layers_after["r2"]
    missing = int(faults["BLOCK_TIER_MISSING"])
    assert fmt.core_sha256(json.loads(r2[fmt.r2_block_key(missing)])) == s.truth_before["kv_cores"][
        fmt.block_key(missing)]  # fmt: skip
    assert fmt.r2_pending_key(faults["PENDING_ALREADY_MINED"]) not in r2
    pending = sum(1 for key in r2 if key.startswith("pending/"))
    assert kv[fmt.PENDING_COUNT_KEY] == str(pending).encode()
    assert json.loads(kv[fmt.LATEST_KEY])["blockNumber"] == BLOCKS - 1
    bsdf = {f["description"]: f["entity_id"] for f in s.manifest["faults"]
            if f["fault"] == "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE"}  # fmt: skip
    no_row, was_failed = bsdf["minted on chain, no DB row"], bsdf["minted on chain, DB says FAILED"]
    created = [op for op in s.layers_after["ops"] if op["mint_address"] == no_row]
    assert [(op["id"], op["status"], op["user_wallet_address"]) for op in created] == [
        (record_id_for(no_row), "COMPLETED", "")]  # fmt: skip
    assert [op["status"] for op in s.layers_after["ops"] if op["mint_address"] == was_failed] == ["COMPLETED"]
    assert {p.removesuffix(".png") for p in s.layers_after["files"]} >= {"Gold", "Diamond"}
    assert s.rehydrated == {missing, int(faults["BLOCK_TIER_DIVERGENT"])}


def test_the_ledger_records_every_action_and_the_queue_every_manual_finding(scenario):
    s = scenario
    rows, queue = s.ledger_after
    assert {r["status"] for r in rows} == {"verified"}
    assert len(rows) == int(s.first_plan["repair"].isin(list(AUTOMATIC)).sum())
    for row in rows:
        assert row["attempts"] == 1 and row["state_before"] is not None and row["state_after"] is not None
        assert row["verification"]["ok"] is True
        assert [e["event"] for e in row["history"]][-2:] == ["applied", "verified"]
    delete = next(r for r in rows if r["repair"] == "DELETE_MINED_PENDING")
    assert delete["destructive"] and delete["approved_by"].endswith("(cli)") and delete["approved_at"] is not None
    assert "awaiting approval" in [e["event"] for e in delete["history"]]
    assert json.loads(delete["state_before"]["value"])["txId"] == delete["entity_id"]  # the deleted copy is kept
    assert {(q["check_id"], q["entity_type"], q["entity_id"]) for q in queue} == manual_findings(s.manifest) - {
        key for key in manual_findings(s.manifest) if CATALOGUE[key[0]].repair in ("NONE", "RECHECK")
    }
    assert {q["source"] for q in queue} == {"plan"} and {q["status"] for q in queue} == {"open"}


def test_a_second_apply_changes_nothing(scenario):
    s = scenario
    assert set(s.third.counts()) == {"in queue"}
    assert s.ledger_third == s.ledger_after
    assert s.layers_third == s.layers_after


def test_queue_command_lists_the_items_with_their_history(scenario):
    s = scenario
    assert s.queue_code == 0 and len(s.queue_json) == len(s.ledger_after[1])
    assert all(item["history"] and item["reason"] for item in s.queue_json)
    assert "CHAIN_METADATA_MUTABLE" in s.queue_text and "queued:" in s.queue_text


def test_findings_report_alerts_and_plan_agree_one_to_one(scenario):
    """One plan entry per failing finding (MANUAL_REVIEW, NONE and RECHECK included), none for unknowns; the entry's
    repair is the finding's; the report's automatic/review counts and the CLI's counts are the plan's."""
    s = scenario
    findings, plan = s.first_judged.findings, s.first_plan
    fails = findings[findings["status"] == "fail"]
    assert finding_keys(findings, "unknown") == set()
    entries = sorted(zip(plan["check_id"], plan["entity_type"], plan["entity_id"], plan["repair"], strict=True))
    assert entries == sorted(zip(fails["check_id"], fails["entity_type"], fails["entity_id"], fails["repair"],
                                 strict=True))  # fmt: skip
    assert set(fails["repair"]) <= {*AUTOMATIC, "MANUAL_REVIEW", "NONE", "RECHECK"}
    automatic = int(plan["repair"].isin(list(AUTOMATIC)).sum())
    manual = int((plan["repair"] == "MANUAL_REVIEW").sum())
    summary = repair_summary(findings, None)
    kinds = summary.plan.groupby("kind")["findings"].sum().to_dict()
    assert (kinds.get("automatic", 0), summary.review_total) == (automatic, manual)
    assert kinds.get("recheck", 0) + kinds.get("none", 0) == len(plan) - automatic - manual > 0
    assert s.plan_text.strip().splitlines()[-1] == (
        f"{len(fails)} failing findings: {automatic} automatic (1 destructive), {manual} manual review, "
        f"{len(plan) - automatic - manual} no action (warnings and re-checks)")  # fmt: skip
    alerts = failure_signals(fails, RuleConfig(group_min=10**6, orphan_count=10**6), set())
    by_entity = {(a.check_id, a.entity_type, a.entity_id): a.details["repair"] for a in alerts if a.kind == "finding"}
    repairs = {(c, t, e): r for c, t, e, r in entries}
    assert {key: repairs[key] for key in by_entity} == by_entity  # an alert names its finding's repair
    assert {key for key in repairs if key[1] != "level"} <= set(by_entity)  # level images: grouped, but one
    never_over_kv = fails[fails["entity_type"] == "block"]
    hash_or_merkle = never_over_kv[never_over_kv["check_id"].isin(["BLOCK_HASH_INVALID", "BLOCK_MERKLE_INVALID"])]
    assert set(hash_or_merkle["repair"]) == {"MANUAL_REVIEW"}
    rehydrate = plan[plan["repair"] == "REHYDRATE_BLOCK"]
    for target, before in zip(rehydrate["target"], rehydrate["before"], strict=True):  # KV written only if absent
        assert "kv" not in json.loads(target)["tiers"] or json.loads(before)["tiers"]["kv"]["status"] == "missing"


def test_repair_plan_help_says_one_entry_per_failing_finding():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["repair", "plan", "--help"])
    text = " ".join(out.getvalue().split())
    assert "One entry per failing finding" in text and "Unknown findings get no entry" in text
