"""A cadence judges only what it read completely (issue 16, point 2): what it did not read is out of its scope,
neither missing nor unknown.

- The report: on a clean world (30 NFTs, 30 blocks), the immediate cadence after one operation moved to a later
  confirmed state said BLOCK_TIER_MISSING on every block ("missing kv, present r2"), TX_INDEX_INCONSISTENT,
  LATEST_POINTER_STALE and PENDING_COUNT_DRIFT, wrote them to ``findings`` and ``consistency_checks`` and raised a
  critical grouped alert. Through Dagster, as `reconcile run --cadence immediate` does: nothing now.
- Random mixes of consistent events made by hand through the layers' protocols (:mod:`tests.worldwriter`), each
  round judged by every cadence as it runs: the immediate sensor (one scope per event, from its RunRequests' tags),
  the CLI's immediate run (the events as one scope), frequent, regular, deep: zero fail, zero unknown.
- The control: a hand-made fault on a whole-population entity (``vdc:latest``) is found by a read of every block and
  by no run that read some blocks or none.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context
from sqlalchemy import text

from reconcile_pipeline.alerts.coverage import BLOCK_STORE_KEYS, run_coverage
from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.cadence_events import ImmediateCursor, combined_scope, find_events
from reconcile_pipeline.cadences import (
    BLOCK_POPULATION_CHECKS,
    BLOCK_SCOPE_ATTR,
    Scope,
    block_event_scope,
    deep_scope,
    frequent_scope,
    operation_event_scope,
    regular_scope,
    scope_from_tags,
)
from reconcile_pipeline.checks.block_checks import run_block_checks
from reconcile_pipeline.checks.block_reach import NOTHING, BlockReach, block_reach, within_reach
from reconcile_pipeline.checks.scoped import scoped_findings
from reconcile_pipeline.defs import automation
from reconcile_pipeline.defs.resources import SettingsResource
from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.runner import run_cadence
from reconcile_pipeline.shard_plan import deep_shard_scopes
from reconcile_pipeline.shards import Shard
from reconcile_pipeline.snapshots.base import skipped
from reconcile_pipeline.snapshots.blockstore import TIER_COLUMNS
from tests.test_block_checks import SETTINGS, Store
from tests.worldkit import running_world, snapshot_frames
from tests.worldwriter import WorldWriter


# -- the report, through Dagster ------------------------------------------------------------------------------------
def _run_rows(settings, table: str, run_id: str) -> pd.DataFrame:
    with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect() as conn:
        return pd.read_sql(text(f"SELECT * FROM {table} WHERE run_id = :run"), conn, params={"run": run_id})


def test_immediate_run_after_one_operation_event_judges_no_block(tmp_path):
    with running_world(tmp_path, seed=7, nfts=30, blocks=30, faults="none") as (world, settings):
        config = str(tmp_path / "reconcile.toml")
        first = run_cadence(config, "immediate")
        assert first.success and first.assets["consistency_findings"]["fail"] == 0
        writer = WorldWriter(settings, random.Random(16))
        op_id = writer.sql("SELECT id FROM minting_operations ORDER BY id LIMIT 1")[0][0]
        now = datetime.now(UTC) + timedelta(seconds=1)
        writer.sql("UPDATE minting_operations SET status = 'VERIFIED', updated_at = :now, verified_at = :now "
                   "WHERE id = :id", now=now, id=op_id)  # fmt: skip
        writer.close()
        second = run_cadence(config, "immediate")
        assert second.success and second.scope.startswith(f"immediate: operations {op_id}; no blocks")
        counts = second.assets["consistency_findings"]
        assert (counts["fail"], counts["unknown"]) == (0, 0), counts["by_check"]
        for asset in ("blockstore_kv", "blockstore_r2", "blockstore_ipfs"):  # nothing of the block store read
            assert second.assets[asset]["read_status"] == "skipped" and second.assets[asset]["dagster/row_count"] == 0
        assert second.assets["db_minting_operations"]["dagster/row_count"] == 1
        assert _run_rows(settings, "findings", second.run_id).empty
        audit = _run_rows(settings, "consistency_checks", second.run_id)
        assert set(audit["status"]) <= {"PASSED"} and set(audit["entity_type"].dropna()) <= {"nft", "level"}
        assert (second.alerts["fail"], second.alerts["unknown"], second.alerts["decisions"]) == (0, 0, {})
        assert not AlertStore(settings).live()  # no alert opened, grouped or not


# -- random mixes of consistent events, every cadence -----------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reach")
    with running_world(folder, seed=16, nfts=8, blocks=8, faults="none") as (world, settings):
        yield world, settings, str(folder / "reconcile.toml")


def judged(settings, scope: Scope) -> pd.DataFrame:
    """The findings a run of ``scope`` reports: the snapshot assets' reads, then the consistency assets' judging."""
    return scoped_findings(snapshot_frames(settings, scope=scope), settings, scope)


def _problems(findings: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    return sorted(zip(findings["check_id"], findings["entity_id"].astype(str), findings["status"],
                      findings["details"].astype(str).str[:160], strict=True))  # fmt: skip


def sensor_scopes(config: str, cursor: str | None) -> tuple[list[Scope], str]:
    """One evaluation of the immediate sensor: the scope of each run it requests (from the tags), and its cursor."""
    resources = {"settings": SettingsResource(config_path=config)}
    context = build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor, resources=resources)
    result = automation.immediate_sensor(context)
    return [scope_from_tags(request.tags) for request in result.run_requests or []], result.cursor


class Cadences:
    """Every cadence as it runs, with the immediate cadence's two cursors (the sensor's and the CLI's)."""

    def __init__(self, settings, config: str, shards: int | None = None) -> None:
        self.settings, self.config, self.shards = settings, config, shards
        self.sensor_cursor: str | None = None
        self.cli_cursor: ImmediateCursor | None = None
        self.catch_up()

    def catch_up(self) -> None:
        """Take the events so far (a first evaluation: the chain head) so that the next ones are the round's."""
        _, self.sensor_cursor = sensor_scopes(self.config, self.sensor_cursor)
        _, self.cli_cursor, _ = find_events(self.settings, self.cli_cursor, max_events=10**9)

    def seen(self) -> set[str]:
        """The operation events the sensor has emitted within its grace window (not emitted again)."""
        return set(ImmediateCursor.from_json(self.sensor_cursor).op_seen)

    def scopes(self) -> list[Scope]:
        per_event, self.sensor_cursor = sensor_scopes(self.config, self.sensor_cursor)
        events, self.cli_cursor, problems = find_events(self.settings, self.cli_cursor, max_events=10**9)
        assert not problems
        together = [combined_scope(events)] if events else []
        window = frequent_scope(self.settings.reconciliation.frequent_window_s, datetime.now(UTC))
        deep = deep_shard_scopes(self.settings, self.shards)
        return [*per_event, *together, window, regular_scope(), *deep]


def _assert_events_in_scope(writer: WorldWriter, scopes: list[Scope], start: tuple[int, int], seen: set[str]) -> None:
    """The immediate scopes name every operation that reached a new confirmed state and every block mined this round
    (they were judged); a state an operation had already reached within the grace window is no new event."""
    immediate = [scope for scope in scopes if scope.cadence == "immediate"]
    ops = {op for scope in immediate for op in scope.op_ids}
    numbers = {n for scope in immediate for n in scope.block_numbers}
    touched, mined = writer.touched[start[0] :], set(writer.mined[start[1] :])
    assert touched and mined, writer.log  # every round has an operation event and a block event
    last = dict(touched)  # the state each operation is in when the sensor looks
    reached = {op for op, status in last.items() if f"op:{op}:{status}" not in seen}
    assert reached <= ops and mined <= numbers, writer.log


def run_mixes(world, seed: int, rounds: int, events: int, shards: int | None = None) -> int:
    """``rounds`` rounds of every kind of event plus up to ``events`` more, each judged by every cadence."""
    _, settings, config = world
    writer, cadences, judged_runs = WorldWriter(settings, random.Random(seed)), Cadences(settings, config, shards), 0
    try:
        for _ in range(rounds):
            start, seen = (len(writer.touched), len(writer.mined)), cadences.seen()
            writer.random_mix(events)
            scopes = cadences.scopes()
            _assert_events_in_scope(writer, scopes, start, seen)
            for scope in scopes:
                findings = judged(settings, scope)
                assert _problems(findings) == [], (scope.summary(), writer.log)
                judged_runs += 1
    finally:
        writer.close()
    return judged_runs


def test_random_mixes_of_consistent_events_give_no_finding_in_any_cadence(world):
    runs = run_mixes(world, seed=1601, rounds=2, events=4)
    assert runs >= 2 * 5  # each round: at least one immediate run, the CLI's, frequent, regular, deep


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1602, 1603])
def test_random_mixes_longer_and_a_sharded_deep_scan(world, seed):
    run_mixes(world, seed=seed, rounds=4, events=6, shards=2)


@pytest.mark.slow
def test_random_mixes_then_every_cadence_through_dagster(world):
    _, settings, config = world
    run_mixes(world, seed=1604, rounds=2, events=5)
    writer = WorldWriter(settings, random.Random(1605))
    try:
        for _ in range(4):
            writer.random_event()
    finally:
        writer.close()
    for cadence in ("immediate", "frequent", "regular", "deep"):
        summary = run_cadence(config, cadence)
        counts = summary.assets["consistency_findings"]
        assert summary.success and (counts["fail"], counts["unknown"]) == (0, 0), (cadence, counts["by_check"])


# -- the control: the test can fail --------------------------------------------------------------------------------
def test_a_stale_pointer_is_found_by_a_read_of_every_block_and_by_no_partial_read(world):
    _, settings, _ = world
    writer = WorldWriter(settings, random.Random(1606))
    original = writer.kv_get(fmt.LATEST_KEY)
    pointer = fmt.json_object(original)
    stale = pointer | {"blockNumber": pointer["blockNumber"] - 1}
    try:
        writer.kv_put(fmt.LATEST_KEY, fmt.canonical_json(stale))  # KV PUT: the pointer names the block before
        whole = judged(settings, regular_scope())
        assert set(zip(whole["check_id"], whole["entity_id"], whole["status"], strict=True)) == {
            ("LATEST_POINTER_STALE", fmt.LATEST_KEY, "fail")
        }
        op_id = writer.sql("SELECT id FROM minting_operations ORDER BY id LIMIT 1")[0][0]
        for partial in (operation_event_scope([op_id]), block_event_scope([pointer["blockNumber"]]),
                        frequent_scope(900, datetime.now(UTC))):  # fmt: skip
            assert judged(settings, partial).empty, partial.summary()
    finally:
        writer.kv_put(fmt.LATEST_KEY, original)
        writer.close()
    assert judged(settings, regular_scope()).empty


@pytest.mark.slow
def test_of_a_sharded_scan_only_the_home_shard_judges_the_pointer(world):
    _, settings, _ = world
    writer = WorldWriter(settings, random.Random(1607))
    original = writer.kv_get(fmt.LATEST_KEY)
    pointer = fmt.json_object(original)
    try:
        writer.kv_put(fmt.LATEST_KEY, fmt.canonical_json(pointer | {"blockNumber": pointer["blockNumber"] - 1}))
        other, home = deep_shard_scopes(settings, 2)
        assert home.shard == Shard(1, 2) and set(judged(settings, home)["check_id"]) == {"LATEST_POINTER_STALE"}
        assert judged(settings, other).empty
    finally:
        writer.kv_put(fmt.LATEST_KEY, original)
        writer.close()


# -- the rule, on frames (pure) ------------------------------------------------------------------------------------
def _scoped(frames: dict[str, pd.DataFrame], judged: list[int], population: bool) -> dict[str, pd.DataFrame]:
    """The frames a read of ``judged`` (with the block below as context, the pointers, count and whole queue) gives."""
    read = [judged[0] - 1, *judged]
    kv, r2, ipfs = frames["blockstore_kv"], frames["blockstore_r2"], frames["blockstore_ipfs"]
    keep_kv = kv["block_number"].isin(read) | kv["kind"].isin(["latest", "pending_count", "tx"])
    keep_r2 = r2["block_number"].isin(read) | (r2["kind"] == "pending")
    out = {
        "blockstore_kv": kv[keep_kv].copy(),
        "blockstore_r2": r2[keep_r2].copy(),
        "blockstore_ipfs": ipfs[ipfs["block_number"].isin(read)].copy(),
    }
    block_scope = {"judged": judged, "context": read[:1], "read": read, "population": population}
    out["blockstore_kv"].attrs = kv.attrs | {BLOCK_SCOPE_ATTR: block_scope}
    out["blockstore_r2"].attrs = dict(r2.attrs)
    return out


def _checks(findings: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(findings["check_id"], findings["entity_id"].astype(str), strict=True))


def test_a_read_of_some_blocks_judges_neither_the_pointer_nor_the_queue_nor_an_entry_naming_an_unread_block():
    store = Store(blocks=6, pending=2)
    store.kv[fmt.LATEST_KEY] = fmt.canonical_json(fmt.latest_value(store.kv_block(2)))  # stale: names block 2
    store.write_count(7)  # drifted
    store.kv[fmt.tx_key("tx-ghost")] = fmt.canonical_json({"blockNumber": 1, "blockHash": "0" * 64})  # dangling
    store.kv[fmt.tx_key("tx-4-9")] = fmt.canonical_json({"blockNumber": 4, "blockHash": "0" * 64})  # names block 4
    frames = store.frames()
    wanted = {("LATEST_POINTER_STALE", "vdc:latest"), ("PENDING_COUNT_DRIFT", "vdc:pending:count"),
              ("TX_INDEX_INCONSISTENT", "tx-ghost"), ("TX_INDEX_INCONSISTENT", "tx-4-9")}  # fmt: skip
    assert _checks(run_block_checks(frames, SETTINGS)) == wanted  # a read of every key: all four
    partial = _scoped(frames, [3, 4], population=False)
    assert block_reach(partial["blockstore_kv"]) == BlockReach(frozenset({3, 4}), frozenset({2, 3, 4}), False)
    assert _checks(run_block_checks(partial, SETTINGS)) == {("TX_INDEX_INCONSISTENT", "tx-4-9")}  # block 4 was read
    home = _scoped(frames, [3, 4, 5], population=True)  # the home shard: the pointer and the queue are its own
    assert {"LATEST_POINTER_STALE", "PENDING_COUNT_DRIFT"} <= {c for c, _ in _checks(run_block_checks(home, SETTINGS))}


def test_a_read_that_took_no_block_judges_nothing_of_the_block_store():
    store = Store(blocks=4, pending=1)
    frames = store.frames()  # as the old immediate operation run had them: KV skipped, R2 read whole
    skipped_kv = skipped("kv", TIER_COLUMNS, "no blocks in scope").frame
    frames["blockstore_kv"] = skipped_kv
    assert block_reach(skipped_kv) == NOTHING and run_block_checks(frames, SETTINGS).empty
    assert not within_reach(run_block_checks(store.frames(), SETTINGS).assign(entity_id="1"), NOTHING).shape[0]


def test_which_scopes_judge_the_block_population_and_what_their_silence_covers():
    now = datetime.now(UTC)
    whole = [regular_scope(), deep_scope(), Scope("manual"), deep_scope(Shard(3, 4)),
             Scope("immediate", "regular", ops="ids", op_ids=("a",))]  # fmt: skip
    partial = [operation_event_scope(["a"]), block_event_scope([3]), frequent_scope(900, now), deep_scope(Shard(1, 4)),
               Scope("immediate", "regular", op_statuses=("COMPLETED",), blocks="latest")]  # fmt: skip
    assert all(scope.judges_block_population for scope in whole)
    assert not any(scope.judges_block_population for scope in partial)
    assert BLOCK_POPULATION_CHECKS == {"LATEST_POINTER_STALE", "PENDING_COUNT_DRIFT", "PENDING_BACKLOG"}
    for scope in partial:  # their silence resolves no alert on the pointer, the count or the queue
        assert not set(BLOCK_STORE_KEYS) & run_coverage(scope, None, None, set(), ["Gold"]).entities
    assert set(BLOCK_STORE_KEYS) <= run_coverage(whole[-1], None, None, set(), ["Gold"]).entities
