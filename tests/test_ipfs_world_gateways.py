"""The world's gateways as real ones behave: a gateway serving other bytes is found by the REGULAR cadence (on
its first and second run), and under every absent-content answer (hang until the timeout, 504, 412, 404) the
manifest's IPFS findings are exact; a gateway that is down or serves no control CID still yields unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reconcile_pipeline.checks.catalogue import NFT_CHECKS
from reconcile_pipeline.checks.nft_checks import run_nft_checks
from reconcile_pipeline.runner import run_cadence
from reconcile_pipeline.sandbox.httpserver import Response
from reconcile_pipeline.sandbox.ipfs import ABSENT_MODES
from tests.worldkit import expected_findings, finding_keys, running_world, snapshot_frames

FAULTS = "DATABASE_SUCCESS_IPFS_FAILURE,IPFS_PROPAGATION_PARTIAL,IPFS_CID_INTEGRITY,IPFS_GATEWAY_WRONG_BYTES"
IPFS_FINDINGS = ("DATABASE_SUCCESS_IPFS_FAILURE", "IPFS_PROPAGATION_PARTIAL", "PARTNER_VERIFICATION_FAILED")
QUICK = {"timeout_s": 0.4}  # a hanging gateway costs this per attempt
QUICK_HTTP = {"max_retry_attempts": 2, "retry_delay_s": 0.01, "retry_max_delay_s": 0.05}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gateways")
    with running_world(folder, seed=13, nfts=10, blocks=4, faults=FAULTS) as (local, settings):
        yield local, settings, local.manifest(), str(folder / "reconcile.toml")


@pytest.fixture
def gateways(world):
    servers = world[0].servers.gateways
    yield servers
    for server in servers:
        server.absent, server.hang_s, server.raw_mode = "504", 60.0, "block"
        server.faults.reset()


def quick(settings):
    return settings.model_copy(
        update={
            "ipfs": settings.ipfs.model_copy(update=QUICK),
            "http": settings.http.model_copy(update=QUICK_HTTP),
        }
    )


def findings_of(summary) -> pd.DataFrame:
    return pd.read_parquet(summary.assets["consistency_findings"]["path"])


def bad_gateways(findings: pd.DataFrame, cid: str) -> list[str]:
    row = findings[(findings["check_id"] == "IPFS_CID_INTEGRITY") & (findings["entity_id"] == cid)]
    details = row["details"].iloc[0]
    return (json.loads(details) if isinstance(details, str) else details)["bad_gateways"]


def test_a_gateway_serving_other_bytes_is_found_by_the_regular_cadence_every_run(world, gateways):
    local, settings, manifest, config = world
    faulted = {entry["entity_id"] for entry in manifest["faults"]}
    victim = next(nft for nft in local.data.nfts if not {nft.mint, nft.json_cid} & faulted)
    other = next(nft for nft in local.data.nfts if nft is not victim).json_bytes
    bad = gateways[-1]
    bad.serve(victim.json_cid, Response(200, other, {"Content-Type": "application/json"}))  # by hand, its own hook
    try:
        for run in ("first", "second"):
            findings = findings_of(run_cadence(config, "regular"))
            found = finding_keys(findings)
            expected = expected_findings(manifest, ("IPFS_CID_INTEGRITY",)) | {
                ("IPFS_CID_INTEGRITY", "cid", victim.json_cid)
            }
            assert {key for key in found if key[0] == "IPFS_CID_INTEGRITY"} == expected, run
            assert bad_gateways(findings, victim.json_cid) == [bad.url], run
    finally:
        bad.serve(victim.json_cid, None)


@pytest.mark.parametrize("mode", ["deep", "regular"])
@pytest.mark.parametrize("absent", ABSENT_MODES)
def test_ipfs_findings_exact_under_every_absent_answer(world, gateways, absent: str, mode: str):
    local, settings, manifest, _ = world
    for server in gateways:
        server.absent, server.hang_s = absent, 10.0
    findings = run_nft_checks(snapshot_frames(quick(settings), ipfs_mode=mode), settings)
    assert expected_findings(manifest, IPFS_FINDINGS) and finding_keys(findings) == expected_findings(
        manifest, NFT_CHECKS
    )
    assert finding_keys(findings, "unknown") == set()  # no gateway's breaker opened on what it lacks


@pytest.mark.parametrize("how", ["refused", "serves no control CID"])
def test_a_gateway_that_is_really_down_still_yields_unknown(world, gateways, how: str):
    local, settings, manifest, _ = world
    gone = gateways[0]  # it lacks the DSIF victim's JSON like the others: down, that is not known
    if how == "refused":
        gone.faults.mode = "down"
    else:
        gone.absent, gone.hang_s = "hang", 10.0
        gone.missing = {cid for cid in local.data.content}  # not even the level images: nothing proves it readable
    try:
        findings = run_nft_checks(snapshot_frames(quick(settings), ipfs_mode="regular"), settings)
    finally:
        gone.missing = set()
    dsif = expected_findings(manifest, ("DATABASE_SUCCESS_IPFS_FAILURE", "PARTNER_VERIFICATION_FAILED"))
    assert dsif and dsif <= finding_keys(findings, "unknown")
    assert finding_keys(findings) <= expected_findings(manifest, NFT_CHECKS)  # never a false alarm


def test_world_settings_name_the_level_images_as_control_cids(world):
    local, settings, _, _ = world
    levels = {row["ipfs_hash"] for row in local.data.registry}
    assert set(settings.ipfs.control_cids) == levels and all(cid in local.servers.store for cid in levels)
    assert Path(world[3]).read_text().count("control_cids") == 1


def test_regular_findings_exact_when_gateways_send_blocks_or_whole_files(world, gateways):
    local, settings, manifest, _ = world
    gateways[0].raw_mode, gateways[2].raw_mode = "file", "file"  # js-ipfs beside a Helia-like gateway
    for server in gateways:
        server.reset_counters()
    findings = run_nft_checks(snapshot_frames(quick(settings), ipfs_mode="regular"), settings)
    assert finding_keys(findings) == expected_findings(manifest, NFT_CHECKS)
    assert finding_keys(findings, "unknown") == set()
    assert all(server.requests for server in gateways)


def test_world_up_options_set_the_gateways_behaviour():
    from reconcile_pipeline.cli import _spec, build_parser

    args = ["world", "up", "--config", "c.toml", "--manifest", "m.json", "--gateway-absent", "412"]
    spec = _spec(build_parser().parse_args([*args, "--gateway-raw", "file"]))
    assert (spec.gateway_absent, spec.gateway_raw) == ("412", "file")
    assert _spec(build_parser().parse_args(args[:6])).gateway_absent == "504"  # the public gateways' answer
    with pytest.raises(SystemExit):
        build_parser().parse_args([*args[:6], "--gateway-absent", "503"])
