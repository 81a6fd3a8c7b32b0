"""Smoke tests of the benchmark runner (bench/) at a tiny size: it works and counts exactly.

The real measurements are never timed assertions: these tests assert what is counted, written and
judged, on a world of a few NFTs with no injected latency.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pytest

from bench import worldproc
from bench.baseline import gateway_url
from bench.cli import build_parser
from bench.counters import max_in_window, request_kind
from bench.frames import ensure_parts
from bench.scale import measure as measure_scale
from bench.suite_latency import judge, rate_check, rpc_bound, run_latency_suite
from bench.suite_scale import judge as judge_scale
from bench.world import BenchWorld, Latency, apply_overrides
from reconcile_pipeline.cli import build_parser as reconcile_parser
from reconcile_pipeline.sandbox.worlddata import WorldSpec

NFTS, BLOCKS = 6, 4


@pytest.fixture(scope="module")
def bench_world(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("bench-world")
    world = BenchWorld(WorldSpec(nfts=NFTS, blocks=BLOCKS), directory, Latency(0.0, 0.0, 0.0))
    info = world.start()
    yield info
    world.stop()


def test_max_in_window_counts_a_sliding_half_open_window() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3  # [0, 1) holds 0, 0.5, 0.99
    assert max_in_window([3.0, 0.0, 1.0, 2.0], 1.0) == 1
    assert max_in_window([0.0, 0.1, 0.2, 5.0], 10.0) == 4


def test_request_kind_is_the_first_path_segment() -> None:
    assert request_kind("/ipfs/QmAbc") == "ipfs"
    assert request_kind("/client/v4/accounts/x") == "client"
    assert request_kind("/") == "/"


def test_rpc_bound_and_rate_check() -> None:
    assert rpc_bound(10_000, 10_000) == pytest.approx(1.1 * (100 + 40))
    assert rpc_bound(1, 1) == pytest.approx(2.2)
    assert rate_check([0.0, 0.1, 0.2, 2.5], 3, 2.0) == {
        "requests": 4,
        "limit": 3,
        "window_s": 2.0,
        "max_in_any_window": 3,
        "met": True,
    }
    assert rate_check([0.0, 0.1, 0.2], 2, 2.0)["met"] is False


def test_overrides_and_gateway_urls() -> None:
    document = apply_overrides({"solana": {"rpc_url": "x"}}, {"solana.window_s": 2.0, "data_dir": "d"})
    assert document == {"solana": {"rpc_url": "x", "window_s": 2.0}, "data_dir": "d"}
    assert gateway_url("ipfs://QmX/a", "http://g") == "http://g/ipfs/QmX/a"
    assert gateway_url("https://gateway.pinata.cloud/ipfs/QmX", "http://g") == "http://g/ipfs/QmX"


def test_judge_states_each_target() -> None:
    steps = {
        "baseline": {"result": {"extrapolated_wall_s": 5000.0}},
        "regular": {
            "result": {"wall_s": 200.0},
            "totals": {"requests": {"solana": 41}},
            "rate": {"max_in_any_window": 41, "limit": 100, "window_s": 10.0, "met": True},
        },
        "second": {"result": {"wall_s": 50.0}, "totals": {"gateway_bytes": 123}},
    }
    info = argparse.Namespace(accounts=10_000, signatures=10_000)
    targets = judge(steps, info)
    assert targets["speedup_regular"] == {"value": 25.0, "bound": ">= 50", "met": False}
    assert targets["speedup_second"]["met"] is True
    assert targets["rpc_requests_regular"] == {"value": 41, "bound": "<= 154.0", "met": True}
    assert targets["second_run_gateway_bytes"] == {"value": 123, "bound": "== 0", "met": False}
    assert targets["rate_limit_regular"]["met"] is True
    scale = judge_scale(
        {
            "100000": {"work_peak_rss_mb": 500.0},
            "1000000": {"work_peak_rss_mb": 1000.0, "wall_s": 20.0, "peak_rss_mb": 1500.0},
        }
    )
    assert scale["scale_1m_one_process_time"]["met"] and scale["scale_1m_one_process_memory"]["met"]
    from bench.suite_deep import judge_all_shards

    union = {"distinct": 3, "repeated_across_shards": 1, "union_digest": "ab", "one_process_digest": "cd",
             "union_equals_one_process": False}  # fmt: skip
    sharded = judge_all_shards({"rows": 1_000_000, "shards": 32, "workers": 2, "errors": [], "work_s_sum": 50.0,
                                "work_wall_s": 25.0, "sweep_wall_s": 131.7, "max_shard_peak_rss_mb": 700.0,
                                "concurrent_peak_rss_mb": 1300.0, "findings": union})  # fmt: skip
    assert not sharded["sweep_wall_s"]["met"] and sharded["scale_1m_sharded_memory"]["met"]  # a wall time, not a sum
    assert sharded["scale_1m_sharded_stage_sum"]["met"] is None and "not a time" in sharded[
        "scale_1m_sharded_stage_sum"]["value"]  # fmt: skip
    assert sharded["scale_1m_sharded_findings"]["met"] is False
    assert judge_all_shards({"errors": ["boom"]}) == {}


def test_world_serves_counts_and_resets(bench_world) -> None:
    info = bench_world
    assert (info.nfts, info.blocks, info.accounts, info.signatures) == (NFTS, BLOCKS, NFTS, NFTS)
    config = tomllib.loads(Path(info.config).read_text())
    assert config["blockstore"]["r2_endpoint_url"] != ""  # R2 goes through the counting proxy
    worldproc.reset(info)
    stats = worldproc.stats(info)
    assert set(stats) == {"gw0", "gw1", "gw2", "pinata", "solana", "kv", "r2"}
    assert all(s["requests"] == 0 and s["bytes_sent"] == 0 for s in stats.values())


def test_baseline_does_one_request_per_record_in_sequence(bench_world) -> None:
    from bench.baseline import measure

    info = bench_world
    worldproc.reset(info)
    result = measure(info.config, nfts=3, blocks=2, world_nfts=NFTS, world_blocks=BLOCKS)
    stats = worldproc.stats(info)
    assert (result["nft_sample"], result["block_sample"]) == (3, 2)
    assert stats["solana"]["rpc_calls"] == {"getAccountInfo": 3, "getSignatureStatuses": 3}
    assert stats["gw0"]["by_kind"] == {"GET /ipfs": 3 * 2 + 2}  # metadata + image per NFT, one per block
    assert stats["kv"]["requests"] == 2 and stats["r2"]["requests"] == 2
    assert stats["gw1"]["requests"] == stats["gw2"]["requests"] == 0
    assert result["bytes"] == sum(stats[name]["bytes_sent"] for name in ("gw0", "kv", "r2"))
    assert result["extrapolated_wall_s"] >= 0 and result["extrapolated_to"] == {"nfts": NFTS, "blocks": BLOCKS}


def test_latency_suite_writes_its_results(bench_world, tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["--results", str(tmp_path), "latency", "--world", str(Path(bench_world.directory) / "world.json"),
         "--skip", "baseline,regular,second,snapshots", "--rate-limit", "1", "--rate-window", "1"]
    )  # fmt: skip
    payload = run_latency_suite(args)
    written = json.loads((tmp_path / f"latency-{NFTS}x{BLOCKS}.json").read_text())
    assert set(written["steps"]) == {"ratelimit"}  # the baseline is tested in process above
    step = written["steps"]["ratelimit"]
    assert step["totals"]["solana_rpc_calls"] == {"getMultipleAccounts": 1, "getSignatureStatuses": 1}
    assert step["rate"]["requests"] == 2 and written["targets"]["rpc_requests_ratelimit"]["met"] is True
    # two snapshots at once, two clients, one provider: the shared limit lets one request per second through
    assert written["targets"]["rate_limit_ratelimit"] == {"value": 1, "bound": "<= 1 per 1.0 s", "met": True}
    assert payload["targets"] == written["targets"]
    assert written["environment"]["command"].startswith("python -m bench")


def test_scale_measures_synthetic_frames(tmp_path: Path) -> None:
    parts = ensure_parts(tmp_path, 40, 20, 10, log=lambda message: None)
    assert [part.name for part in parts] == ["part-00000", "part-00001"]
    result = measure_scale(str(tmp_path), nfts=40, chunk=20, fault_every=10, gx=False)
    assert result["rows"]["nft_consistency"] == 40 and result["rows"]["solana_metadata_accounts"] == 40
    assert result["rows"]["pinata_pins"] == 40 - 4 + 5  # 4 unpinned metadata CIDs, the 5 level images
    assert result["findings"]["by_check"]["CHAIN_URI_MISMATCH:fail"] == 4
    assert result["findings"]["by_check"]["IPFS_NOT_PINNED:fail"] == 4
    assert set(result["timings_s"]) == {"read_parquet", "join", "checks", "metrics"}


def test_reconcile_bench_delegates_to_the_bench_runner() -> None:
    args = reconcile_parser().parse_args(["bench", "hashing", "--hash-mb", "1"])
    assert args.bench_args == ["hashing", "--hash-mb", "1"]
    parsed = build_parser().parse_args(args.bench_args)
    assert parsed.hash_mb == 1 and parsed.command == "hashing"


def test_shards_together_find_what_one_process_finds(tmp_path: Path) -> None:
    """The synthetic shard cut over a world whose chain-URI faults name another NFT's metadata: a CID named
    from two shards is reported by both, and the distinct union equals the one-process findings."""
    from bench.deep import synthetic_shard
    from bench.scale import digest_keys
    from bench.suite_deep import _union

    ensure_parts(tmp_path, 400, 200, 10, log=lambda message: None)
    whole = measure_scale(str(tmp_path), nfts=400, chunk=200, fault_every=10, gx=False)
    shards = [synthetic_shard(str(tmp_path), 400, 200, 10, shard_size=100, pins="shard", gx=False, shard_index=i,
                              keys=True) for i in range(4)]  # fmt: skip
    union = _union(shards, whole["findings"]["digest"])
    assert union["distinct"] == whole["findings"]["total"] and union["union_equals_one_process"] is True
    assert union["reported"] == union["distinct"] + union["repeated_across_shards"]
    assert all("finding_keys" not in shard for shard in shards)  # popped: the results file keeps the counts
    assert digest_keys([("a", "fail", "1"), ("a", "fail", "1")]) == digest_keys([("a", "fail", "1")])
