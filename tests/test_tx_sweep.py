"""The home shard's sweep of the ``vdc:tx`` index (:mod:`reconcile_pipeline.snapshots.tx_sweep`): on a local world
with dangling entries added, the union of the shards' TX_INDEX_INCONSISTENT findings is the unsharded deep run's,
the dangling ones coming from the home shard alone with the same details; a named block with no KV copy is read
from R2; the sweep reads in batches, keeps only the loose entries and stops on a KV failure as an unknown."""

from __future__ import annotations

import asyncio
import json
import math

import pandas as pd
import pytest

from reconcile_pipeline import clients
from reconcile_pipeline.cadences import BLOCK_SCOPE_ATTR, deep_scope
from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.runner import run_scope
from reconcile_pipeline.shards import Shard
from reconcile_pipeline.snapshots.tx_sweep import (
    ABSENT,
    HOLDS,
    HOLDS_NOT,
    SCOPED,
    SWEEP_ATTR,
    UNNAMED,
    sweep_tx_index,
)
from tests.worldkit import running_world

CHECK = "TX_INDEX_INCONSISTENT"
NOT_HELD = "vdc:tx names a block that does not hold the transaction"
REWRITE_REFUSED = "the index names a block without the transaction"  # its plan entry: manual review
OTHER_BLOCK, NO_BLOCK, GARBLED, R2_ONLY, IN_HOME = (f"tx-dangling-{c}" for c in "abcde")
DANGLING = (OTHER_BLOCK, NO_BLOCK, GARBLED, R2_ONLY, IN_HOME)


def _index_value(number: int) -> bytes:
    return fmt.canonical_json({"blockNumber": number, "blockHash": "0" * 64, "timestamp": 1})


async def _plant(settings, kv_server) -> dict[str, int | None]:
    """The dangling entries, naming blocks of shard 0 (1, 2), no block (999), none (garbled) and the home shard
    (9); block 1's KV copy is deleted, its R2 copy stays."""
    named = {OTHER_BLOCK: 2, NO_BLOCK: 999, GARBLED: None, R2_ONLY: 1, IN_HOME: 9}
    async with clients.kv_client(settings) as kv:
        for tx_id, number in named.items():
            await kv.put(fmt.tx_key(tx_id), b"not json {" if number is None else _index_value(number))
        await kv.delete(fmt.block_key(1))
    assert kv_server.value(fmt.block_key(1)) is None
    return named


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tx-sweep")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECONCILE_SOLANA__REQUESTS_PER_WINDOW", "100000")
        with running_world(folder, seed=21, nfts=6, blocks=12, faults="TX_INDEX_INCONSISTENT") as (world, settings):
            named = asyncio.run(_plant(settings, world.servers.kv))
            config = str(folder / "reconcile.toml")
            whole = run_scope(config, deep_scope(), alerts=False)
            shards = [run_scope(config, deep_scope(Shard(i, 2)), alerts=False) for i in (0, 1)]
            yield world, settings, named, whole, shards


def _frame(run, asset: str) -> pd.DataFrame:
    return pd.read_parquet(run.assets[asset]["path"])


def _tx_findings(run) -> pd.DataFrame:
    findings = _frame(run, "consistency_findings")
    return findings[findings["check_id"] == CHECK]


def _keys(findings: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    rows = findings[["check_id", "entity_type", "entity_id", "status"]].astype(str)
    return set(rows.itertuples(index=False, name=None))


def _details(findings: pd.DataFrame) -> dict[str, dict]:
    return {row.entity_id: json.loads(row.details) for row in findings.itertuples()}


def test_the_shards_find_what_the_unsharded_run_finds(swept):
    _, _, _, whole, shards = swept
    assert whole.success and all(run.success for run in shards)
    expected = _keys(_tx_findings(whole))
    assert {(CHECK, "tx", tx_id, "fail") for tx_id in DANGLING} <= expected
    assert {key[3] for key in expected} == {"fail"}  # nothing unknown: block 1 is read from R2
    assert set().union(*(_keys(_tx_findings(run)) for run in shards)) == expected


def test_the_dangling_entries_come_from_the_home_shard_alone_with_the_same_details(swept):
    _, _, named, whole, (other, home) = swept
    assert not set(DANGLING) & set(_tx_findings(other)["entity_id"])
    home_details, whole_details = _details(_tx_findings(home)), _details(_tx_findings(whole))
    for tx_id in DANGLING:
        assert home_details[tx_id] == whole_details[tx_id] == {"problem": NOT_HELD, "index_block": named[tx_id],
                                                               "review_reason": REWRITE_REFUSED}  # fmt: skip


def test_the_home_shard_says_what_it_found_of_each_named_block(swept):
    _, _, _, whole, (other, home) = swept
    sweep = _frame(home, "blockstore_kv").attrs[BLOCK_SCOPE_ATTR][SWEEP_ATTR]
    states = {tx_id: sweep["states"][tx_id] for tx_id in DANGLING}
    assert states == {OTHER_BLOCK: HOLDS_NOT, NO_BLOCK: ABSENT, GARBLED: UNNAMED, R2_ONLY: HOLDS_NOT, IN_HOME: SCOPED}
    assert sweep["error"] is None and sweep["counts"]["blocks_r2"] >= 1  # block 1: KV copy gone, R2 read
    assert SWEEP_ATTR not in _frame(other, "blockstore_kv").attrs[BLOCK_SCOPE_ATTR]
    assert BLOCK_SCOPE_ATTR not in _frame(whole, "blockstore_kv").attrs  # unsharded: read whole, as before
    kv = _frame(home, "blockstore_kv")
    assert set(DANGLING) <= set(kv.loc[kv["kind"] == "tx", "tx_id"])
    assert not kv["block_number"].isin([1, 2]).any()  # the named blocks are not the shard's to judge


def _expected_requests(kv_server, read_numbers: set[int], page: int, batch: int) -> tuple[int, int]:
    """(KV bulk reads, R2 reads) the sweep should make for the namespace as it stands: the values a batch of
    keys at a time, then each named block once, ``batch`` distinct blocks at a time."""
    keys = [key for key in kv_server.keys() if fmt.parse_tx_key(key) is not None]
    bulk, numbers = 0, set()
    for start in range(0, len(keys), page):
        page_keys = keys[start : start + page]
        for low in range(0, len(page_keys), batch):
            bulk += math.ceil(len(page_keys[low : low + batch]) / 100)
    for key in keys:
        try:
            number = json.loads(kv_server.value(key))["blockNumber"]
        except ValueError:
            continue
        if number >= 0 and number not in read_numbers:
            numbers.add(number)
    bulk += sum(math.ceil(len(chunk) / 100) for chunk in _chunks(sorted(numbers), batch))
    return bulk, sum(kv_server.value(fmt.block_key(n)) is None for n in numbers)


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _expected_states(world, read_numbers: set[int]) -> dict[str, str]:
    """What the sweep should say of each listed entry whose named block does not hold it (HOLDS: held)."""
    kv_server, chain = world.servers.kv, world.data.blocks
    states = {}
    for key in kv_server.keys():
        if (tx_id := fmt.parse_tx_key(key)) is None:
            continue
        try:
            number = json.loads(kv_server.value(key))["blockNumber"]
        except ValueError:
            states[tx_id] = UNNAMED
            continue
        if number in read_numbers:
            states[tx_id] = SCOPED
        elif number >= len(chain):
            states[tx_id] = ABSENT
        elif tx_id not in {tx["txId"] for tx in chain[number]["transactions"]}:
            states[tx_id] = HOLDS_NOT
    return states


def test_the_sweep_reads_in_batches_and_keeps_only_the_loose_entries(swept):
    world, settings, _, _, _ = swept
    kv_server = world.servers.kv
    listed = [key for key in kv_server.keys() if key.startswith(fmt.TX_KEY_PREFIX)]
    read_numbers = set(range(6, 13))
    expected_bulk, expected_r2 = _expected_requests(kv_server, read_numbers, page=7, batch=3)

    async def sweep():
        r2 = clients.r2_client(settings)
        try:
            async with clients.kv_client(settings) as kv:
                kv.list_limit = 7
                return await sweep_tx_index(kv, r2, set(), read_numbers, batch_size=3)
        finally:
            r2.close()

    kv_server.operations.clear()
    result = asyncio.run(sweep())
    assert dict(kv_server.operations) == {"list": math.ceil(len(listed) / 7), "bulk_get": expected_bulk}
    assert result.counts["kv_requests"] == math.ceil(len(listed) / 7) + expected_bulk
    assert result.counts["r2_requests"] == expected_r2 >= 1
    assert result.counts["listed"] == len(listed) and result.counts["values_read"] == len(listed)
    named = {json.loads(v)["blockNumber"] for k in listed if (v := kv_server.value(k)).startswith(b"{")}
    assert result.counts["blocks_kv"] == len(named - read_numbers)  # each named block read once, 999 included
    assert result.states == _expected_states(world, read_numbers) and result.error is None
    assert set(DANGLING) <= set(result.states) and HOLDS not in result.states.values()
    assert set(result.values) == {fmt.tx_key(tx_id) for tx_id in result.states}  # index values only, no blocks
    assert all(len(raw) < 200 for raw in result.values.values())


def test_the_sweep_skips_the_keys_the_shard_read(swept):
    world, settings, _, _, _ = swept
    listed = [key for key in world.servers.kv.keys() if key.startswith(fmt.TX_KEY_PREFIX)]
    already = {key for key in listed if key.removeprefix(fmt.TX_KEY_PREFIX) not in DANGLING}

    async def sweep():
        r2 = clients.r2_client(settings)
        try:
            async with clients.kv_client(settings) as kv:
                return await sweep_tx_index(kv, r2, already, set())
        finally:
            r2.close()

    result = asyncio.run(sweep())
    assert result.counts["already_read"] == len(already) and result.counts["values_read"] == len(DANGLING)
    assert set(result.states) == set(DANGLING) and result.states[IN_HOME] == HOLDS_NOT  # no scope: read it


def test_a_kv_failure_stops_the_sweep_as_an_unknown(swept):
    from reconcile_pipeline.checks.block_checks_index import WHOLE_INDEX, check_tx_index
    from reconcile_pipeline.checks.block_join import block_context

    world, settings, _, _, (_, home) = swept
    kv_server = world.servers.kv

    async def sweep():
        r2 = clients.r2_client(settings)
        try:
            async with clients.kv_client(settings) as kv:
                kv.retry = type(kv.retry)(attempts=1)
                kv_server.faults.arm("error", after=1)  # the listing answers, then KV fails
                return await sweep_tx_index(kv, r2, set(), set())
        finally:
            kv_server.faults.reset()
            r2.close()

    result = asyncio.run(sweep())
    assert result.error.startswith("the vdc:tx index could not be swept") and not result.states
    frames = {name: _frame(home, f"blockstore_{name}") for name in ("kv", "r2", "ipfs")}
    frames["kv"].attrs[BLOCK_SCOPE_ATTR][SWEEP_ATTR] = result.attrs()
    findings = check_tx_index(block_context({f"blockstore_{k}": v for k, v in frames.items()}, settings))
    unknown = findings[findings["status"] == "unknown"]
    assert list(unknown["entity_id"]) == [WHOLE_INDEX]
    assert json.loads(unknown["details"].iloc[0])["reason"] == result.error
