"""`reconcile verify` and the `verify_entity` job on a world with every fault: one entity's findings are exactly
the manifest's for that entity; a clean entity exits 0; an unreadable layer exits 3 and is named; blocks; a
fault made by hand (an R2 PUT); a dry-run repair; the job in process."""

from __future__ import annotations

import json

import boto3
import pytest
from dagster import DagsterInstance

from reconcile_pipeline.cli import main
from reconcile_pipeline.defs import build_definitions
from reconcile_pipeline.layers import traffic
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.ledger import Ledger
from tests.worldkit import expected_findings, running_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    with running_world(folder, seed=7, nfts=24, blocks=16, faults="all") as (live, settings):
        yield live, settings, str(folder / "reconcile.toml"), live.manifest()


def keys_of(record) -> set[tuple[str, str]]:
    """What verifying one NFT's operation covers, from the world's own record of it."""
    return {("nft", record.mint), ("operation", record.op_id), ("cid", record.json_cid), ("cid", record.image_cid),
            ("level", record.level), ("wallet_level", f"{record.wallet}:{record.level}")}  # fmt: skip


def run_verify(capsys, config: str, *args: str) -> tuple[int, dict]:
    code = main(["verify", "--config", config, "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def fails(report: dict) -> set[tuple[str, str, str]]:
    return {(f["check_id"], f["entity_type"], f["entity_id"]) for f in report["findings"] if f["status"] == "fail"}


def nft_with_fault(live, manifest: dict, fault: str):
    mint = next(f["entity_id"] for f in manifest["faults"] if f["fault"] == fault)
    return next(record for record in live.data.nfts if record.mint == mint)


def clean_block(live, manifest: dict) -> str:
    """A block (neither the first nor the head) no finding of the manifest names, nor any of its transactions.
    (Every level with NFTs has a level fault in this world, so no operation of it is clean.)"""
    faulted = {(t, i) for _, t, i in expected_findings(manifest)}
    for block in live.data.blocks[1:-1]:
        txs = {("tx", str(tx.get("txId"))) for tx in block.get("transactions") or []}
        if not ({("block", str(block["blockNumber"]))} | txs) & faulted:
            return str(block["blockNumber"])
    raise AssertionError("no clean block in this world")


def test_an_operation_with_a_fault_gives_exactly_its_manifest_findings(world, capsys):
    live, _, config, manifest = world
    record = nft_with_fault(live, manifest, "CHAIN_METADATA_MUTABLE")
    before = traffic.totals()
    code, report = run_verify(capsys, config, "--operation", record.op_id)
    sent = traffic.totals() - before
    expected = {f for f in expected_findings(manifest) if f[1:] in keys_of(record)}
    assert ("CHAIN_METADATA_MUTABLE", "nft", record.mint) in expected
    assert code == 1 and fails(report) == expected
    assert not [f for f in report["findings"] if f["status"] == "unknown"]
    assert next(v for v in report["layers"] if v["layer"] == "solana")["verdict"] == "fail"
    assert {a["check_id"] for a in report["actions"]} == {check for check, _, _ in expected}
    assert sent.requests <= 20  # one operation's records, not the world's 24 NFTs (nor the pin list)


def test_the_same_entity_by_mint_and_by_cid(world, capsys):
    live, _, config, manifest = world
    record = nft_with_fault(live, manifest, "CHAIN_METADATA_MUTABLE")
    by_op = run_verify(capsys, config, "--operation", record.op_id)[1]
    code, by_mint = run_verify(capsys, config, "--mint", record.mint)
    assert code == 1 and fails(by_mint) == fails(by_op)
    not_pinned = next(f for f in manifest["faults"] if f["fault"] == "IPFS_NOT_PINNED")["entity_id"]
    code, by_cid = run_verify(capsys, config, "--cid", not_pinned)
    assert code == 1 and ("IPFS_NOT_PINNED", "cid", not_pinned) in fails(by_cid)


def test_a_clean_entity_exits_zero(world, capsys):
    live, _, config, manifest = world
    code, report = run_verify(capsys, config, "--block", clean_block(live, manifest))
    assert code == 0 and report["findings"] == [] and report["actions"] == []
    assert {v["verdict"] for v in report["layers"]} == {"ok"}


def test_an_unreadable_layer_exits_three_and_is_named(world, capsys):
    live, _, config, manifest = world
    live.servers.kv.faults.mode = "down"
    try:
        code = main(["verify", "--config", config, "--block", clean_block(live, manifest)])
    finally:
        live.servers.kv.faults.mode = "ok"
    text = capsys.readouterr().out
    assert code == 3
    kv = next(line for line in text.splitlines() if line.startswith("kv "))
    assert kv.split()[1] == "unknown" and "could not be read" in kv
    assert "0 failing" in text


def test_a_block_with_a_fault_and_a_dry_run_repair(world, capsys):
    live, settings, config, manifest = world
    number = next(f["entity_id"] for f in manifest["faults"] if f["fault"] == "BLOCK_TIER_MISSING")
    code, report = run_verify(capsys, config, "--block", number)
    assert code == 1 and fails(report) == {f for f in expected_findings(manifest) if f[1:] == ("block", number)}
    verdicts = {v["layer"]: v["verdict"] for v in report["layers"]}
    assert verdicts == {"kv": "ok", "r2": "fail", "ipfs": "ok"}  # the tier that lacks the block is the one named
    assert main(["verify", "--config", config, "--block", number, "--repair"]) == 1
    text = capsys.readouterr().out
    assert "REHYDRATE_BLOCK" in text and "would apply" in text and "dry run (nothing written" in text
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        assert Ledger(db, "test").rows() == []


def test_a_block_made_divergent_by_hand_through_r2(world, capsys):
    live, settings, config, manifest = world
    number = clean_block(live, manifest)
    assert run_verify(capsys, config, "--block", number)[0] == 0
    s3 = boto3.client("s3", endpoint_url=settings.blockstore.r2_endpoint_url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    bucket, key = settings.blockstore.r2_bucket, f"blocks/{number}.json"
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    block = json.loads(original)
    block["timestamp"] = block["timestamp"] + 1 if isinstance(block["timestamp"], int) else "2001-01-01T00:00:00Z"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(block).encode())
    try:
        code, report = run_verify(capsys, config, "--block", number)
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)
    assert code == 1 and fails(report) == {("BLOCK_TIER_DIVERGENT", "block", number)}


def test_bad_entities_are_usage_errors(world, capsys):
    _, _, config, _ = world
    assert main(["verify", "--config", config, "--block", "nine"]) == 2
    assert main(["verify", "--config", config, "--cid", "not-a-cid"]) == 2
    assert main(["verify", "--config", config, "--operation", "no-such-operation"]) == 2
    assert main(["verify", "--config", config, "--block", "1", "--execute"]) == 2
    err = capsys.readouterr().err
    assert "block number" in err and "not a CID" in err and "no minting operation" in err
    with pytest.raises(SystemExit) as exited:
        main(["verify", "--config", config, "--block", "1", "--mint", "x"])
    assert exited.value.code == 2


def test_the_verify_entity_job_runs_in_process(world):
    live, _, config, manifest = world
    number = next(f["entity_id"] for f in manifest["faults"] if f["fault"] == "BLOCK_TIER_MISSING")
    job = build_definitions(config).resolve_job_def("verify_entity")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            run_config={"ops": {"verify_one_entity": {"config": {"block": int(number)}}}}, instance=instance
        )
    assert result.success
    observed = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    metadata = observed[0].event_specific_data.asset_observation.metadata
    assert metadata["entity"].value == f"block {number}" and metadata["exit_status"].value == 1
    assert "BLOCK_TIER_MISSING" in metadata["findings"].value
    assert {v["layer"]: v["verdict"] for v in metadata["layers"].value}["r2"] == "fail"


def test_a_mint_with_no_database_row(world, capsys):
    live, _, config, manifest = world
    fault = next(f for f in manifest["faults"] if f["fault"] == "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE"
                 and "no DB row" in f["description"])  # fmt: skip
    record = next(r for r in live.data.nfts if r.mint == fault["entity_id"])
    code, report = run_verify(capsys, config, "--mint", record.mint)
    expected = {f for f in expected_findings(manifest) if f[1:] in keys_of(record)}  # its level's image too
    assert ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "nft", record.mint) in expected
    assert code == 1 and fails(report) == expected
