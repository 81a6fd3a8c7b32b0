"""The cadences' scopes against a local world: bytes moved, what each cadence reads, the CLI, verification state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from reconcile_pipeline import clients
from reconcile_pipeline.cadences import frequent_scope, in_scope
from reconcile_pipeline.cli import main
from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.archive import ContentArchive
from reconcile_pipeline.runner import run_cadence, run_scope
from reconcile_pipeline.sandbox.ipfs_blocks import root_block
from reconcile_pipeline.snapshots.collect import collect_snapshots
from reconcile_pipeline.verification import read_states
from tests.worldkit import running_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cadences")
    with running_world(folder, seed=21, nfts=6, blocks=6, faults="none") as (world, settings):
        yield world, settings, str(folder / "reconcile.toml")


def content_traffic(world) -> tuple[int, int, int]:
    """(bytes served, GETs, HEADs) of IPFS content on every gateway since the last reset."""
    gateways = world.servers.gateways
    gets = sum(n for g in gateways for key, n in g.requests.items() if key.startswith("GET /ipfs/"))
    heads = sum(n for g in gateways for key, n in g.requests.items() if key.startswith("HEAD /ipfs/"))
    return sum(g.bytes_sent for g in gateways), gets, heads


def reset(world) -> None:
    for gateway in world.servers.gateways:
        gateway.reset_counters()


def root_blocks_bytes(world, cids: pd.Series) -> int:
    """The bytes of the root blocks of ``cids`` as the world's content store holds them."""
    store = world.servers.store
    return sum(len(root_block(str(parse_cid(cid).to_v1()), store.get(cid))) for cid in cids)


def test_regular_downloads_nothing_already_verified_and_deep_downloads_everything(world):
    world, settings, config = world
    reset(world)
    first = run_cadence(config, "regular")
    assert first.success and first.assets["consistency_findings"]["fail"] == 0
    objects = first.assets["ipfs_objects"]["status_counts"]["ok"]  # metadata JSONs and their images
    copies = first.assets["blockstore_ipfs"]["status_counts"]["ok"]  # each block's IPFS copy
    n = len(world.servers.gateways)
    served, gets, heads = content_traffic(world)  # one GET each, then the other gateways' raw root blocks
    assert served > 0 and (gets, heads) == (objects + copies + objects * (n - 1), 0)
    cids = read_states(settings, "cid")
    assert len(cids) == objects + copies
    assert cids["verified"].all() and cids["sha256"].notna().all() and cids["last_verified_at"].notna().all()
    archive = ContentArchive.from_settings(settings)
    assert all(archive.get(cid) is not None for cid in cids["key"])
    reset(world)
    second = run_cadence(config, "regular")
    served, gets, heads = content_traffic(world)
    assert len(cids) == objects + copies
    # every gateway's raw root block of each object (one gateway for a block copy), verified: nothing else moves
    object_cids = pd.read_parquet(first.assets["ipfs_objects"]["path"])["cid"]
    copy_cids = pd.read_parquet(first.assets["blockstore_ipfs"]["path"])["cid"].dropna()
    roots = n * root_blocks_bytes(world, object_cids) + root_blocks_bytes(world, copy_cids)
    assert (served, gets, heads) == (roots, objects * n + copies, 0)
    assert second.assets["consistency_findings"]["fail"] == 0 and second.assets["consistency_findings"]["unknown"] == 0
    assert second.assets["ipfs_objects"]["status_counts"]["content_reused"] == objects
    assert second.assets["blockstore_ipfs"]["scope"].startswith("regular: all operations; all blocks")
    reset(world)
    deep = run_cadence(config, "deep")
    served, gets, _ = content_traffic(world)
    assert deep.success and served > 0 and gets >= objects * len(world.servers.gateways) + copies
    entities = read_states(settings, "nft")
    assert len(entities) == 6 and set(entities["result"]) == {"pass"} and entities["sha256"].notna().all()


def test_frequent_reads_the_window_and_judges_no_one_outside_it(world):
    world, settings, config = world
    now = datetime.now(UTC)
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect(write=True) as conn:
        op_id = conn.execute(text("SELECT id FROM minting_operations ORDER BY id LIMIT 1")).scalar_one()
        conn.execute(text("UPDATE minting_operations SET updated_at = :now WHERE id = :id"), {"now": now, "id": op_id})
    # blocks are a minute apart, the last one a minute before the world was built: the last two are recent
    summary = run_scope(config, frequent_scope(150, world.data.now))
    assert summary.success
    assets = summary.assets
    assert assets["db_minting_operations"]["dagster/row_count"] == 1
    assert assets["solana_metadata_accounts"]["dagster/row_count"] == 1  # no listing: the other mints are no orphans
    assert assets["blockstore_kv"]["scope"].startswith("frequent: operations updated since")
    kv = pd.read_parquet(assets["blockstore_kv"]["path"])
    assert kv.attrs["block_scope"] == {"judged": [4, 5], "context": [3], "read": [3, 4, 5], "population": False}
    findings = pd.read_parquet(assets["consistency_findings"]["path"])
    assert in_scope(findings, {"blockstore_kv": kv}).empty  # nothing wrong in the window (context blocks aside)
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect() as conn:
        audited = conn.execute(
            text("SELECT DISTINCT entity_id FROM consistency_checks WHERE run_id = :run AND entity_type = 'block'"),
            {"run": summary.run_id},
        ).scalars()
        assert sorted(audited) == ["4", "5"]  # the context block 3 was not judged: no audit row says it passed
    assert summary.alerts["fail"] == 0 and summary.alerts["evaluated"]


def test_cli_immediate_runs_each_new_event_once(world, capsys):
    world, settings, config = world
    assert main(["run", "--cadence", "immediate", "--config", config]) == 0  # first time: all confirmed
    out = capsys.readouterr().out
    assert "immediate: all operations in BLOCKCHAIN_CONFIRMED" in out
    assert out.startswith("no findings") and "0 failing, 0 unknown" in out  # the context blocks are not judged
    assert main(["run", "--cadence", "immediate", "--config", config]) == 0
    assert "no new event since the last run" in capsys.readouterr().out
    now = datetime.now(UTC) + timedelta(seconds=1)
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect(write=True) as conn:
        op_id = conn.execute(text("SELECT id FROM minting_operations ORDER BY id DESC LIMIT 1")).scalar_one()
        conn.execute(text("UPDATE minting_operations SET updated_at = :now WHERE id = :id"), {"now": now, "id": op_id})
    # an operation event reads and judges no block: the run that follows it finds nothing to fail (exit 0)
    assert main(["run", "--cadence", "immediate", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"immediate: operations {op_id}; no blocks" in out and "alerts: 0 opened" in out


def test_regular_r2_reads_again_only_objects_whose_etag_changed(world):
    world, settings, _ = world
    deep = collect_snapshots(settings, ipfs_mode="deep")["blockstore_r2"]
    regular = collect_snapshots(settings, ipfs_mode="regular")["blockstore_r2"]
    blocks, pending = (deep.frame["kind"] == "block").sum(), (deep.frame["kind"] == "pending").sum()
    assert deep.status.counts["reused"] == 0 and deep.status.counts["read"] == blocks + pending
    assert (regular.status.counts["reused"], regular.status.counts["read"]) == (blocks + pending, 0)
    pd.testing.assert_frame_equal(regular.frame, deep.frame)  # the rows a GET of every object gives
    r2, key = clients.r2_client(settings), "blocks/1.json"
    original = r2.get_sync(key)
    try:
        r2.put_sync(key, original.replace(b"{", b"{ ", 1))  # same block, other bytes: a new ETag
        changed = collect_snapshots(settings, ipfs_mode="regular")["blockstore_r2"]
        assert (changed.status.counts["reused"], changed.status.counts["read"]) == (blocks + pending - 1, 1)
        row = changed.frame.set_index("key").loc[key]
        assert row["size"] == len(original) + 1 and row["value"].startswith("{ ")
    finally:
        r2.put_sync(key, original)
        r2.close()
    again = collect_snapshots(settings, ipfs_mode="regular")["blockstore_r2"]
    assert again.status.counts["read"] == 1  # the restored object has another ETag again (its old one's bytes)
    pd.testing.assert_frame_equal(again.frame, deep.frame)
