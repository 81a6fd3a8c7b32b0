"""Pure unit tests of the block-store checks on hand-made snapshot frames (no servers).

A :class:`Store` holds the three tiers the way seed 004 persists a block (R2 and IPFS the core,
KV the core plus ipfsHash, then vdc:latest, vdc:tx:ID, the pending queue); :meth:`Store.frames`
turns it into the frames the snapshots produce (``snapshots.blockstore.tier_frame`` and the IPFS
columns), with any tier marked unavailable. Each test breaks one thing and asserts the exact set
of findings.
"""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pytest

from reconcile_pipeline.checks import block_checks_gaps
from reconcile_pipeline.checks.block_checks import run_block_checks
from reconcile_pipeline.checks.block_copies import ipfs_hash_problem, parse_copy
from reconcile_pipeline.checks.block_join import block_context, build_block_consistency
from reconcile_pipeline.checks.block_status import block_metrics, block_statuses, status_report
from reconcile_pipeline.checks.catalogue import BLOCK_CHECKS
from reconcile_pipeline.checks.findings import findings_records
from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.layers.cid import CID, DAG_PB, is_cid
from reconcile_pipeline.layers.errors import LayerUnavailable
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.settings import Settings
from reconcile_pipeline.snapshots.base import LayerStatus, Snapshot, status_from, unavailable
from reconcile_pipeline.snapshots.blockstore import IPFS_COLUMNS, TIER_COLUMNS, block_cids, tier_frame

SETTINGS = Settings()
MOCK_CID = str(CID.create(0, DAG_PB, bytes(32)))  # a well-formed CIDv0 of an all-zero digest


def tx(number: int, k: int) -> dict:
    return {"txId": f"tx-{number}-{k}", "type": "document_payment", "timestamp": 1_000 * number + k,
            "assetId": f"asset-{number}-{k}", "userId": "user", "amount": 100 + k}  # fmt: skip


class Store:
    """The three tiers of a VDC block store as plain dicts, filled as seed 004 persists blocks."""

    def __init__(
        self, blocks: int = 6, pending: int = 2, fields: tuple[str, ...] = fmt.DEFAULT_HASH_FIELDS, txs: int = 0
    ) -> None:
        self.kv: dict[str, bytes] = {}
        self.r2: dict[str, bytes] = {}
        self.ipfs: dict[str, bytes] = {}
        self.chain: list[dict] = []
        self.fields = fields
        previous = fmt.GENESIS_PREVIOUS_HASH
        for n in range(blocks):
            count = txs or 1 + n % 3
            block = fmt.build_block(n, 1_000 * n, previous, [tx(n, k) for k in range(count)], fields=fields)
            self.chain.append(block)
            self.persist(block)
            previous = block["hash"]
        self.set_latest()
        for k in range(pending):
            self.r2[fmt.r2_pending_key(f"p-{k}")] = fmt.canonical_json(fmt.pending_value(f"p-{k}", k, b"x"))
        self.write_count()

    def persist(self, block: dict) -> None:
        """Write block N to R2, IPFS and KV (with its ipfsHash) and index its transactions."""
        n = block["blockNumber"]
        self.chain[n] = block
        core = fmt.canonical_json(fmt.block_core(block))
        cid = str(unixfs_cid(core))
        self.r2[fmt.r2_block_key(n)] = core
        self.ipfs[cid] = core
        self.kv[fmt.block_key(n)] = fmt.canonical_json(block | {"ipfsHash": cid, "ipfsGatewayUrl": f"gw/{cid}"})
        self.kv.update({k: fmt.canonical_json(v) for k, v in fmt.tx_index_values(block).items()})

    def remine(self, n: int, previous_hash: str | None = None) -> dict:
        """Mine block n again (same transactions) on ``previous_hash`` (default: block n-1's hash)."""
        old = self.chain[n]
        previous = previous_hash or (self.chain[n - 1]["hash"] if n else fmt.GENESIS_PREVIOUS_HASH)
        block = fmt.build_block(n, old["timestamp"], previous, old["transactions"], fields=self.fields)
        self.persist(block)
        return block

    def relink_after(self, n: int) -> None:
        """Re-mine every block after n on its predecessor, as the chain would have continued; move vdc:latest."""
        for later in range(n + 1, len(self.chain)):
            self.remine(later)
        self.set_latest()

    def set_latest(self) -> None:
        if self.chain:
            self.kv[fmt.LATEST_KEY] = fmt.canonical_json(fmt.latest_value(self.kv_block(len(self.chain) - 1)))

    def kv_block(self, n: int) -> dict:
        return json.loads(self.kv[fmt.block_key(n)])

    def set_kv_block(self, n: int, block: dict) -> None:
        self.kv[fmt.block_key(n)] = fmt.canonical_json(block)

    def write_count(self, count: int | None = None) -> None:
        queued = sum(1 for key in self.r2 if key.startswith(fmt.R2_PENDING_PREFIX))
        self.kv[fmt.PENDING_COUNT_KEY] = str(queued if count is None else count).encode()

    def ipfs_frame(self, kv: pd.DataFrame, gateways_down: bool) -> pd.DataFrame:
        """What snapshot_block_ipfs returns: one read per KV block by its ipfsHash."""
        rows = []
        for number, cid in sorted(block_cids(kv).items()):
            content = self.ipfs.get(cid) if cid else None
            if not cid or not is_cid(cid):
                read = "invalid"
            else:
                read = "unavailable" if gateways_down else ("ok" if content is not None else "missing")
            content = content if read == "ok" else None
            rows.append({"block_number": number, "cid": cid, "status": read, "error": None if read == "ok" else read,
                         "size": None if content is None else len(content),
                         "sha256": None if content is None else hashlib.sha256(content).hexdigest(),
                         "value": None if content is None else content.decode()})  # fmt: skip
        frame = pd.DataFrame(rows, columns=IPFS_COLUMNS)
        return Snapshot(frame, status_from("ipfs", frame)).frame

    def frames(self, down: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
        def tier(name: str, values: dict) -> pd.DataFrame:
            if name in down:
                return unavailable(name, LayerUnavailable(f"{name} is down", layer=name), TIER_COLUMNS).frame
            return Snapshot(tier_frame(values), LayerStatus(name)).frame

        kv, r2 = tier("kv", self.kv), tier("r2", self.r2)
        return {"blockstore_kv": kv, "blockstore_r2": r2, "blockstore_ipfs": self.ipfs_frame(kv, "ipfs" in down)}


def keys(findings: pd.DataFrame, status: str = "fail") -> set[tuple[str, str]]:
    rows = findings[findings["status"] == status]
    return set(zip(rows["check_id"], rows["entity_id"], strict=True))


def details(findings: pd.DataFrame, check_id: str, entity: str) -> dict:
    records = [r for r in findings_records(findings) if r["check_id"] == check_id and r["entity_id"] == entity]
    assert len(records) == 1, records
    return records[0]


def run(store: Store, down: tuple[str, ...] = (), settings: Settings = SETTINGS) -> pd.DataFrame:
    return run_block_checks(store.frames(down), settings)


def statuses(store: Store, down: tuple[str, ...] = ()) -> dict[int, str]:
    frames = store.frames(down)
    blocks = build_block_consistency(frames, SETTINGS)
    table = block_statuses(blocks, run_block_checks(frames, SETTINGS, blocks))
    return dict(zip(table["block_number"], table["status"], strict=True))


# -- the clean store -------------------------------------------------------------------------
def test_clean_store_has_no_findings_and_every_block_ok() -> None:
    store = Store()
    assert run(store).empty
    assert set(statuses(store).values()) == {"ok"}


def test_block_consistency_columns_describe_each_tier() -> None:
    store = Store(blocks=3)
    blocks = build_block_consistency(store.frames(), SETTINGS)
    assert blocks["block_number"].tolist() == [0, 1, 2]
    row = blocks.iloc[1]
    assert (row["kv_status"], row["r2_status"], row["ipfs_status"]) == ("present", "present", "present")
    assert row["kv_core_sha256"] == row["r2_core_sha256"] == row["ipfs_core_sha256"] == fmt.core_sha256(store.chain[1])
    assert row["kv_sha256"] != row["r2_sha256"]  # KV also holds the IPFS fields; the cores still agree
    assert row["r2_sha256"] == row["ipfs_sha256"] or pd.isna(row["ipfs_sha256"])
    assert row["ref_tier"] == row["source_tier"] == "kv"
    assert row["ref_hash"] == row["ref_hash_computed"] == store.chain[1]["hash"]
    assert row["ref_previous_hash"] == store.chain[0]["hash"]
    assert row["ref_tx_ids"] == ["tx-1-0", "tx-1-1"]
    assert row["kv_ipfs_hash"] == row["ipfs_cid"] and pd.isna(row["kv_ipfs_problem"])


# -- tiers -----------------------------------------------------------------------------------
def test_block_missing_from_r2_is_tier_missing_with_kv_as_source() -> None:
    store = Store()
    del store.r2[fmt.r2_block_key(3)]
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_MISSING", "3")}
    record = details(found, "BLOCK_TIER_MISSING", "3")
    assert record["details"]["missing"] == ["r2"] and record["details"]["source"] == "kv"
    assert (record["severity"], record["repair"]) == ("warning", "REHYDRATE_BLOCK")
    assert statuses(store)[3] == "partial"


def test_block_missing_from_kv_rehydrates_from_r2_and_ipfs_is_not_blamed() -> None:
    store = Store()
    del store.kv[fmt.block_key(2)]
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_MISSING", "2")}
    assert details(found, "BLOCK_TIER_MISSING", "2")["details"]["source"] == "r2"


def test_block_missing_on_every_gateway_is_tier_missing_for_ipfs() -> None:
    store = Store()
    del store.ipfs[store.kv_block(4)["ipfsHash"]]
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_MISSING", "4")}
    assert details(found, "BLOCK_TIER_MISSING", "4")["details"]["missing"] == ["ipfs"]


def test_r2_copy_with_other_bytes_is_divergence_only() -> None:
    store = Store()
    core = json.loads(store.r2[fmt.r2_block_key(2)])
    core["transactions"][0]["amount"] += 1
    store.r2[fmt.r2_block_key(2)] = fmt.canonical_json(core)
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_DIVERGENT", "2")}
    record = details(found, "BLOCK_TIER_DIVERGENT", "2")
    assert record["details"]["diverging"] == ["r2"] and record["details"]["source"] == "kv"
    assert record["repair"] == "REHYDRATE_BLOCK"
    assert statuses(store)[2] == "partial"


def test_tampered_kv_copy_is_hash_and_merkle_failure_on_kv_critical_manual_not_a_divergence() -> None:
    store = Store()
    block = store.kv_block(3)
    block["transactions"][0]["amount"] += 1  # hash and merkleRoot left as they were
    store.set_kv_block(3, block)
    found = run(store)
    assert keys(found) == {("BLOCK_HASH_INVALID", "3"), ("BLOCK_MERKLE_INVALID", "3")}
    for check in ("BLOCK_HASH_INVALID", "BLOCK_MERKLE_INVALID"):
        record = details(found, check, "3")
        assert (record["severity"], record["repair"], record["truth"]) == ("critical", "MANUAL_REVIEW", "kv")
        assert record["details"]["tier"] == "kv" and record["details"]["valid_copy_in"] == "r2"
    assert details(found, "BLOCK_HASH_INVALID", "3")["details"]["hash"] == store.chain[3]["hash"]
    assert statuses(store)[3] == "partial"


def test_unparsable_kv_copy_is_divergence_repaired_from_r2() -> None:
    store = Store()
    store.kv[fmt.block_key(3)] = b"{not json"
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_DIVERGENT", "3")}
    assert "not valid JSON" in details(found, "BLOCK_TIER_DIVERGENT", "3")["details"]["errors"]["kv"]


def test_no_valid_copy_left_is_critical_manual_review_and_failed() -> None:
    store = Store()
    del store.r2[fmt.r2_block_key(2)]
    block = store.kv_block(2) | {"timestamp": 1}  # a stale hash in KV, the only copy left
    del store.ipfs[block["ipfsHash"]]
    store.set_kv_block(2, block)
    found = run(store)
    assert keys(found) == {("BLOCK_TIER_MISSING", "2"), ("BLOCK_HASH_INVALID", "2")}
    record = details(found, "BLOCK_TIER_MISSING", "2")
    assert (record["severity"], record["repair"], record["details"]["source"]) == ("critical", "MANUAL_REVIEW", None)
    assert statuses(store)[2] == "failed"


# -- ipfsHash ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, words",
    [(None, "missing"), ("", "missing"), ("QmMockHash00000000000000000000000000000000000", "mock"),
     ("mock-ipfs-hash-7", "mock"), ("not-a-cid", "not a CID"), (MOCK_CID, "mock")],
)  # fmt: skip
def test_bad_ipfs_hash_is_caught_without_the_network_and_only_once(value: object, words: str) -> None:
    store = Store()
    block = store.kv_block(3)
    block["ipfsHash"] = value
    store.set_kv_block(3, block)
    for down in [(), ("ipfs",)]:
        found = run(store, down)
        assert keys(found) == {("BLOCK_IPFS_HASH_INVALID", "3")}
        assert words in details(found, "BLOCK_IPFS_HASH_INVALID", "3")["details"]["problem"]
    assert statuses(store)[3] == "partial"


def test_ipfs_hash_naming_other_bytes_is_invalid_not_divergent() -> None:
    store = Store()
    block = store.kv_block(3)
    block["ipfsHash"] = store.kv_block(2)["ipfsHash"]
    store.set_kv_block(3, block)
    found = run(store)
    assert keys(found) == {("BLOCK_IPFS_HASH_INVALID", "3")}
    assert "not this block" in details(found, "BLOCK_IPFS_HASH_INVALID", "3")["details"]["problem"]


def test_ipfs_hash_problem_accepts_real_cids() -> None:
    core = fmt.canonical_json({"a": 1})
    assert ipfs_hash_problem(str(unixfs_cid(core))) is None
    assert ipfs_hash_problem(str(unixfs_cid(core, cid_version=1))) is None
    assert ipfs_hash_problem(str(CID.create(1, 0x55, bytes(32), hash_code=0x00))) is not None  # identity


# -- chain -------------------------------------------------------------------------------------
def test_stale_hash_breaks_only_that_block() -> None:
    store = Store()
    store.persist(store.chain[2] | {"timestamp": 7})  # changed after hashing, in every tier
    found = run(store)
    assert keys(found) == {("BLOCK_HASH_INVALID", "2")}
    record = details(found, "BLOCK_HASH_INVALID", "2")["details"]
    assert record["recomputed"] == fmt.block_hash(store.chain[2]) != record["hash"]
    assert statuses(store)[2] == "ok"  # the tiers agree: storage is complete, integrity is the finding


def test_hash_fields_are_configurable() -> None:
    fields = ("blockNumber", "previousHash", "transactions", "merkleRoot")
    store = Store(fields=fields)
    custom = SETTINGS.model_copy(update={"blockstore": SETTINGS.blockstore.model_copy(update={"hash_fields": fields})})
    assert run(store, settings=custom).empty
    store.persist(store.chain[2] | {"timestamp": 7})  # not a hashed field here
    assert run(store, settings=custom).empty
    assert keys(run(store)) == {("BLOCK_HASH_INVALID", str(n)) for n in range(6)}


def test_forked_previous_hash_breaks_only_that_block() -> None:
    store = Store()
    forked = store.remine(3, previous_hash="ab" * 32)
    store.relink_after(3)  # later blocks chain from the fork
    found = run(store)
    assert keys(found) == {("BLOCK_CHAIN_BROKEN", "3")}
    record = details(found, "BLOCK_CHAIN_BROKEN", "3")["details"]
    assert (record["previousHash"], record["expected"]) == (forked["previousHash"], store.chain[2]["hash"])


def test_wrong_genesis_previous_hash() -> None:
    store = Store(blocks=3)
    store.remine(0, previous_hash="11" * 32)
    store.relink_after(0)
    assert keys(run(store)) == {("BLOCK_CHAIN_BROKEN", "0")}


def test_wrong_merkle_root_is_merkle_only() -> None:
    store = Store()
    block = store.chain[2] | {"merkleRoot": "cd" * 32}
    store.persist(block | {"hash": fmt.block_hash(block)})  # the hash covers the wrong root
    store.relink_after(2)
    found = run(store)
    assert keys(found) == {("BLOCK_MERKLE_INVALID", "2")}
    expected = fmt.merkle_root([fmt.tx_hash(t) for t in store.chain[2]["transactions"]])
    assert details(found, "BLOCK_MERKLE_INVALID", "2")["details"]["recomputed"] == expected


def test_gap_in_block_numbers_names_the_missing_block_and_breaks_the_chain_after_it() -> None:
    store = Store()
    for key in [fmt.block_key(3), *fmt.tx_index_values(store.chain[3])]:
        del store.kv[key]
    del store.r2[fmt.r2_block_key(3)]
    found = run(store)
    assert keys(found) == {("BLOCK_CHAIN_BROKEN", "4"), ("BLOCK_TIER_MISSING", "3")}
    assert details(found, "BLOCK_CHAIN_BROKEN", "4")["details"] == {
        "problem": "gap in block numbers", "missing_from": 3, "missing_to": 3}  # fmt: skip
    missing = details(found, "BLOCK_TIER_MISSING", "3")
    assert (missing["severity"], missing["repair"]) == ("critical", "MANUAL_REVIEW")
    assert (missing["details"]["missing"], missing["details"]["present"], missing["details"]["unknown"]) == (
        ["kv", "r2"], [], ["ipfs"])  # fmt: skip
    unread = run(store, ("r2",))
    assert ("BLOCK_CHAIN_BROKEN", "4") in keys(unread, "unknown")
    assert not {("BLOCK_CHAIN_BROKEN", "4"), ("BLOCK_TIER_MISSING", "3")} & keys(unread)


def test_a_wide_gap_names_each_missing_block_up_to_a_bound() -> None:
    store = Store(blocks=8)
    for n in (0, 2, 3, 4, 5):
        for key in [fmt.block_key(n), *fmt.tx_index_values(store.chain[n])]:
            del store.kv[key]
        del store.r2[fmt.r2_block_key(n)]
    found = run(store)
    assert {e for c, e in keys(found) if c == "BLOCK_TIER_MISSING"} == {"0", "2", "3", "4", "5"}
    assert ("BLOCK_CHAIN_BROKEN", "6") in keys(found) and ("BLOCK_CHAIN_BROKEN", "1") in keys(found)
    context = block_context(store.frames(), SETTINGS)
    assert block_checks_gaps.missing_numbers(context, limit=3) == [0, 2, 3]  # the bound: the first ones only


# -- vdc:latest and the transaction index -------------------------------------------------------
def test_latest_pointer_behind_missing_or_with_a_wrong_hash() -> None:
    store = Store()
    store.kv[fmt.LATEST_KEY] = fmt.canonical_json(fmt.latest_value(store.kv_block(4)))
    assert keys(run(store)) == {("LATEST_POINTER_STALE", "vdc:latest")}
    assert details(run(store), "LATEST_POINTER_STALE", "vdc:latest")["details"]["latest"] == 4
    store.kv[fmt.LATEST_KEY] = fmt.canonical_json(fmt.latest_value(store.kv_block(5)) | {"hash": "00" * 32})
    assert keys(run(store)) == {("LATEST_POINTER_STALE", "vdc:latest")}
    del store.kv[fmt.LATEST_KEY]
    assert keys(run(store)) == {("LATEST_POINTER_STALE", "vdc:latest")}
    store.kv[fmt.LATEST_KEY] = b"garbage"
    assert keys(run(store)) == {("LATEST_POINTER_STALE", "vdc:latest")}


def test_tx_index_wrong_block_missing_unreadable_and_dangling() -> None:
    store = Store()
    wrong, missing, garbled = "tx-2-0", "tx-4-1", "tx-5-0"
    store.kv[fmt.tx_key(wrong)] = fmt.canonical_json(json.loads(store.kv[fmt.tx_key(wrong)]) | {"blockNumber": 3})
    del store.kv[fmt.tx_key(missing)]
    store.kv[fmt.tx_key(garbled)] = b"{"
    store.kv[fmt.tx_key("tx-ghost")] = fmt.canonical_json({"blockNumber": 1, "blockHash": store.chain[1]["hash"]})
    found = run(store)
    assert keys(found) == {("TX_INDEX_INCONSISTENT", t) for t in (wrong, missing, garbled, "tx-ghost")}
    assert details(found, "TX_INDEX_INCONSISTENT", wrong)["details"] == {
        "problem": "vdc:tx names another block", "held_in": [2], "index_block": 3}  # fmt: skip
    assert details(found, "TX_INDEX_INCONSISTENT", missing)["details"]["problem"] == "vdc:tx key missing"


def test_tx_index_naming_the_right_number_with_another_blocks_hash() -> None:
    store = Store()
    store.kv[fmt.tx_key("tx-3-0")] = fmt.canonical_json({"blockNumber": 3, "blockHash": store.chain[2]["hash"]})
    assert keys(run(store)) == {("TX_INDEX_INCONSISTENT", "tx-3-0")}


# -- the pending queue ---------------------------------------------------------------------------
def test_pending_count_drift_missing_or_unreadable() -> None:
    store = Store(pending=3)
    store.write_count(5)
    found = run(store)
    assert keys(found) == {("PENDING_COUNT_DRIFT", "vdc:pending:count")}
    assert details(found, "PENDING_COUNT_DRIFT", "vdc:pending:count")["details"]["count"] == 5
    store.kv[fmt.PENDING_COUNT_KEY] = b"three"
    assert keys(run(store)) == {("PENDING_COUNT_DRIFT", "vdc:pending:count")}
    del store.kv[fmt.PENDING_COUNT_KEY]
    assert keys(run(store)) == {("PENDING_COUNT_DRIFT", "vdc:pending:count")}
    assert run(Store(pending=0)).empty  # no count and no queue: nothing to say
    empty = Store(pending=0)
    del empty.kv[fmt.PENDING_COUNT_KEY]
    assert run(empty).empty


def test_pending_tx_already_mined() -> None:
    store = Store()
    mined = store.chain[3]["transactions"][0]
    store.r2[fmt.r2_pending_key(mined["txId"])] = fmt.canonical_json(fmt.pending_value(mined["txId"], 1, b"x"))
    store.write_count()
    found = run(store)
    assert keys(found) == {("PENDING_ALREADY_MINED", mined["txId"])}
    record = details(found, "PENDING_ALREADY_MINED", mined["txId"])
    assert (record["severity"], record["repair"], record["details"]["mined_in"]) == (
        "critical", "DELETE_MINED_PENDING", [3])  # fmt: skip


def test_pending_backlog_over_the_configured_maximum() -> None:
    limit = SETTINGS.blockstore.pending_backlog_max
    assert run(Store(pending=limit)).empty
    found = run(Store(pending=limit + 1))
    assert keys(found) == {("PENDING_BACKLOG", "pending")}
    assert details(found, "PENDING_BACKLOG", "pending")["details"] == {"pending": limit + 1, "max": limit}


# -- unknown is not missing ---------------------------------------------------------------------------
def broken_store() -> Store:
    """One fault of each tier-related kind: R2 missing 1, R2 divergent 2, mock ipfsHash 3, count drift."""
    store = Store()
    del store.r2[fmt.r2_block_key(1)]
    store.r2[fmt.r2_block_key(2)] = store.r2[fmt.r2_block_key(2)].replace(b'"amount":100', b'"amount":101')
    store.set_kv_block(3, store.kv_block(3) | {"ipfsHash": "QmMock"})
    store.write_count(9)
    return store


def test_broken_store_with_every_tier_read() -> None:
    found = run(broken_store())
    assert keys(found) == {("BLOCK_TIER_MISSING", "1"), ("BLOCK_TIER_DIVERGENT", "2"),
                           ("BLOCK_IPFS_HASH_INVALID", "3"), ("PENDING_COUNT_DRIFT", "vdc:pending:count")}  # fmt: skip
    assert keys(found, "unknown") == set()


def test_r2_down_makes_r2_checks_unknown_never_failed() -> None:
    found = run(broken_store(), ("r2",))
    assert keys(found) == {("BLOCK_IPFS_HASH_INVALID", "3")}
    blocks = {str(n) for n in range(6)}
    assert keys(found, "unknown") == (
        {("BLOCK_TIER_MISSING", n) for n in blocks} | {("BLOCK_TIER_DIVERGENT", n) for n in blocks}
        | {("PENDING_COUNT_DRIFT", "vdc:pending:count"), ("PENDING_BACKLOG", "pending"),
           ("PENDING_ALREADY_MINED", "*"), ("BLOCK_TIER_MISSING", "*")}
    )  # fmt: skip
    unknown = findings_records(found[found["status"] == "unknown"])
    assert all("r2 is down" in r["details"]["reason"] and r["repair"] == "NONE" for r in unknown)
    assert set(statuses(broken_store(), ("r2",)).values()) == {"unknown", "partial"}


def test_kv_down_makes_kv_checks_unknown_and_judges_the_r2_copies() -> None:
    store = broken_store()
    found = run(store, ("kv",))
    assert keys(found) == set()  # R2 alone: block 1 is not seen, block 2's R2 copy cannot be compared
    seen = {"0", "2", "3", "4", "5"}
    kv_checks = ("BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT", "BLOCK_HASH_INVALID", "BLOCK_CHAIN_BROKEN",
                 "BLOCK_MERKLE_INVALID", "BLOCK_IPFS_HASH_INVALID")  # fmt: skip
    tx_ids = {t["txId"] for n in seen for t in store.chain[int(n)]["transactions"]}
    assert keys(found, "unknown") == (
        {(check, n) for check in kv_checks for n in seen} | {("TX_INDEX_INCONSISTENT", t) for t in tx_ids}
        | {("LATEST_POINTER_STALE", "vdc:latest"), ("PENDING_COUNT_DRIFT", "vdc:pending:count"),
           ("PENDING_ALREADY_MINED", "p-0"), ("PENDING_ALREADY_MINED", "p-1")}
        | {(check, "*") for check in (*kv_checks, "TX_INDEX_INCONSISTENT")}  # blocks only KV holds: unseen
    )  # fmt: skip


def test_gateways_down_make_ipfs_checks_unknown_but_a_mock_hash_still_fails() -> None:
    found = run(broken_store(), ("ipfs",))
    assert keys(found) == {("BLOCK_TIER_MISSING", "1"), ("BLOCK_TIER_DIVERGENT", "2"),
                           ("BLOCK_IPFS_HASH_INVALID", "3"), ("PENDING_COUNT_DRIFT", "vdc:pending:count")}  # fmt: skip
    others = {"0", "1", "2", "4", "5"}
    assert keys(found, "unknown") == (
        {("BLOCK_IPFS_HASH_INVALID", n) for n in others} | {("BLOCK_TIER_MISSING", n) for n in others - {"1"}}
    )
    assert details(found, "BLOCK_TIER_MISSING", "1")["details"]["unknown"] == ["ipfs"]


def test_nothing_readable_gives_only_unknowns() -> None:
    for frames in (Store().frames(("kv", "r2", "ipfs")), {}):
        found = run_block_checks(frames, SETTINGS)
        assert keys(found) == set()
        assert {check for check, _ in keys(found, "unknown")} == set(BLOCK_CHECKS)
        assert build_block_consistency(frames, SETTINGS).empty


def test_empty_store_is_clean() -> None:
    assert run(Store(blocks=0, pending=0)).empty


# -- statuses and the seed's report ----------------------------------------------------------------
def test_status_report_is_shaped_like_the_seed() -> None:
    store = broken_store()
    frames = store.frames()
    blocks = build_block_consistency(frames, SETTINGS)
    findings = run_block_checks(frames, SETTINGS, blocks)
    table = block_statuses(blocks, findings, rehydrated={4})
    report = status_report(table)
    assert report["totalBlocks"] == 6
    assert report["summary"] == {"complete": 3, "incomplete": 3, "unknown": 0}
    by_number = {b["blockNumber"]: b for b in report["blocks"]}
    assert by_number[0] == {"blockNumber": 0, "kv": True, "r2": True, "ipfs": store.kv_block(0)["ipfsHash"],
                            "complete": True, "status": "ok"}  # fmt: skip
    assert (by_number[1]["r2"], by_number[1]["status"]) == (False, "partial")
    assert (by_number[3]["ipfs"], by_number[3]["status"]) == (False, "partial")
    assert by_number[4]["status"] == "rehydrated"
    assert by_number[1]["reason"] == "r2: read, no copy; the kv copy validates: rehydration source"
    assert by_number[2]["reason"] == "r2: other bytes than the kv copy; the kv copy validates: rehydration source"
    assert by_number[3]["reason"].startswith("ipfs: ") and by_number[3]["reason"].endswith("rehydration source")
    assert "reason" not in by_number[4] and pd.isna(table.set_index("block_number").loc[0, "reason"])
    assert table.set_index("block_number").loc[2, "problems"] == ["BLOCK_TIER_DIVERGENT"]
    json.dumps(report)  # JSON-ready
    assert pd.read_parquet(io.BytesIO(table.to_parquet()))["ipfs"].tolist() == [True, True, True, False, True, True]
    assert build_block_consistency(frames, SETTINGS).to_parquet()  # the joined frame is Parquet-ready too
    metrics = block_metrics(table, findings)
    assert (metrics["total_blocks"], metrics["status_ok"], metrics["status_partial"]) == (6, 2, 3)
    assert (metrics["status_rehydrated"], metrics["fail_findings"], metrics["unknown_findings"]) == (1, 4, 0)


def test_parse_copy_reports_where_and_what() -> None:
    block = Store(blocks=2).chain[1]
    good = parse_copy(fmt.canonical_json(block).decode(), 1, "vdc:block:1", fmt.DEFAULT_HASH_FIELDS)
    assert good["valid"] and good["usable"] and good["tx_ids"] == ["tx-1-0", "tx-1-1"]
    moved = parse_copy(fmt.canonical_json(block).decode(), 7, "vdc:block:7", fmt.DEFAULT_HASH_FIELDS)
    assert not moved["usable"] and "blockNumber 1 stored as block 7" in moved["error"]
    bad = parse_copy('{"blockNumber": 1}', 1, "blocks/1.json", fmt.DEFAULT_HASH_FIELDS)
    assert not bad["usable"] and "blocks/1.json" in bad["error"] and bad["core_sha256"]


# -- linear time --------------------------------------------------------------------------------------
def chain_prefix(store: Store, frames: dict[str, pd.DataFrame], length: int) -> dict[str, pd.DataFrame]:
    """The frames of the store's first ``length`` blocks, cut from its frames (cheaper than building again)."""
    kv, r2, ipfs = frames["blockstore_kv"], frames["blockstore_r2"], frames["blockstore_ipfs"]
    tx_ids = {t["txId"] for block in store.chain[:length] for t in block["transactions"]}
    latest = fmt.canonical_json(fmt.latest_value(store.kv_block(length - 1)))
    kv_keep = (kv["block_number"] < length).fillna(False) | kv["tx_id"].isin(tx_ids) | (kv["kind"] == "pending_count")
    r2_keep = (r2["block_number"] < length).fillna(False) | (r2["kind"] == "pending")
    cut = {
        "blockstore_kv": pd.concat([kv[kv_keep], tier_frame({fmt.LATEST_KEY: latest})], ignore_index=True),
        "blockstore_r2": r2[r2_keep].reset_index(drop=True),
        "blockstore_ipfs": ipfs[ipfs["block_number"] < length].reset_index(drop=True),
    }
    for frame in cut.values():
        frame.attrs["read_status"] = {"status": "ok"}
    return cut


@pytest.mark.slow
def test_chain_check_on_long_chains_finds_nothing_on_a_clean_store() -> None:
    # How the checks scale is measured in bench/, not asserted on a wall clock here.
    store = Store(blocks=20_000, pending=1, txs=1)
    large = store.frames()
    small = chain_prefix(store, large, 10_000)
    for frames in (small, large):
        assert run_block_checks(frames, SETTINGS).empty
    assert build_block_consistency(small, SETTINGS)["block_number"].tolist() == list(range(10_000))
