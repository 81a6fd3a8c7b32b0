"""On-demand verification of one entity across all its layers (seed 000's ``verifyMultiLayerConsistency``,
seed 004's "verify single block"): no Dagster here; the CLI (`reconcile verify`) and the ``verify_entity``
job call :func:`verify`.

A :class:`Target` is an operation id, a mint, a block number or a CID. Only that entity's records are read:

- an operation (or a mint, or a CID, through the operations that name it): its database rows (by id, by
  mint; a CID: the rows whose metadata or image URI names it), the level images and the registry (a few
  rows), the chain accounts of its mints (a mint without a row too), its transactions, its content on every
  gateway (re-downloaded and re-hashed), and its CIDs' pins (``hashContains`` queries, not the pin list);
- a block: KV, R2 and IPFS for that block (with its predecessor as context for the chain link, as a scoped
  run reads it) and the ``vdc:tx`` entries of its transactions.

Every check runs on those frames (the same pure functions as a reconciliation); the findings kept are those
on the entity's own keys (:func:`entity_keys`: the NFT or operation, its CIDs, its level, its wallet and
level; the block and its transactions) and the unknowns that cover every entity of a check (``*``). Checks
that need the whole population (DB_DUPLICATE_MINT needs the wallet's other operations, orphans need the
listing by update authority, LATEST_POINTER_STALE and the pending queue need the chain head) are judged by
the cadences, not here. Nothing is recorded; repairs go through the ledger like any apply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pandas as pd

from . import clients
from .cadences import Scope, in_scope
from .checks.block_checks import run_block_checks
from .checks.block_join import build_block_consistency
from .checks.findings import concat_findings, empty_findings
from .checks.nft_checks import nft_findings
from .checks.nft_checks_common import WHOLE_CHECK
from .checks.nft_join import NFT_CONSISTENCY_COLUMNS, build_nft_consistency
from .layers import blocks as fmt
from .layers.cid import parse_cid
from .layers.errors import DecodeError, LayerError
from .repairs.plan import build_plan
from .settings import Settings
from .snapshots import blockstore, ipfs, nft
from .snapshots.base import LayerStatus, Snapshot, skipped, unavailable

KINDS = ("operation", "mint", "block", "cid")
NFT_LAYERS = ("source_images", "database", "solana", "ipfs", "pinata")
BLOCK_LAYERS = ("kv", "r2", "ipfs")


@dataclass(frozen=True)
class Target:
    kind: str  # operation | mint | block | cid
    value: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"verify: unknown entity kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not self.value.strip():
            raise ValueError(f"verify: empty {self.kind}")
        if self.kind == "block" and not (self.value.isdigit() and len(self.value) < 19):
            raise ValueError(f"verify: block must be a block number (0 or more), not {self.value!r}")
        if self.kind == "cid":
            try:
                parse_cid(self.value)
            except DecodeError as exc:
                raise ValueError(f"verify: {self.value!r} is not a CID ({exc})") from None

    @classmethod
    def one_of(cls, **given: object) -> Target:
        """Exactly one of operation=, mint=, block=, cid= (None or "" meaning not given)."""
        named = [(kind, value) for kind, value in given.items() if value not in (None, "")]
        if len(named) != 1:
            raise ValueError("verify: name exactly one entity: --operation ID | --mint ADDRESS | --block N | --cid CID")
        kind, value = named[0]
        return cls(kind, str(value))

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


@dataclass
class Verification:
    target: Target
    snapshots: dict[str, Snapshot]
    findings: pd.DataFrame  # the entity's findings (fail and unknown)
    keys: set[tuple[str, str]]  # (entity_type, entity_id) the target covers
    plan: pd.DataFrame
    nft: pd.DataFrame = field(default_factory=pd.DataFrame)
    blocks: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""  # e.g. no operation names this CID

    @property
    def layers(self) -> tuple[str, ...]:
        return BLOCK_LAYERS if self.target.kind == "block" else NFT_LAYERS


# -- reading ------------------------------------------------------------------------------------
def _operations(settings: Settings, target: Target) -> Snapshot:
    """The target's minting_operations rows (an unreadable database: unavailable, never 'none')."""
    try:
        with clients.database_client(settings) as db:
            if target.kind == "operation":
                frame = db.read_minting_operations(ids=[target.value])
            elif target.kind == "mint":
                frame = db.read_minting_operations(mints=[target.value])
            else:
                frame = _naming_cid(db.read_minting_operations_naming(cid_spellings(target.value)), target.value)
    except LayerError as exc:
        return unavailable("database", exc, [])
    return Snapshot(frame, LayerStatus("database", rows=len(frame), message=f"verify: {target}"))


def cid_spellings(cid: str) -> list[str]:
    """The CID as given, as CIDv1 and (when it has one) as CIDv0: how a URI may spell it."""
    wanted = parse_cid(cid)
    spellings = [cid, str(wanted), str(wanted.to_v1())]
    try:
        spellings.append(str(wanted.to_v0()))
    except DecodeError:
        pass
    return list(dict.fromkeys(spellings))


def _naming_cid(frame: pd.DataFrame, cid: str) -> pd.DataFrame:
    spellings = cid_spellings(cid)
    if frame.empty:
        return frame
    uris = frame[["metadata_uri", "image_uri"]].fillna("").astype(str).agg(" ".join, axis=1)
    keep = uris.map(lambda text: any(spelling in text for spelling in spellings))
    return frame[keep].reset_index(drop=True)


def _column(frame: pd.DataFrame, name: str) -> list:
    return frame[name].dropna().tolist() if name in frame else []


async def _pins(settings: Settings, cids: list[str]) -> Snapshot:
    rows: list[dict] = []
    async with clients.pinata_client(settings) as pinata:
        try:
            for cid in dict.fromkeys(cids):
                rows += await pinata.pins_of(cid)
        except LayerError as exc:
            return unavailable("pinata", exc, nft.PIN_COLUMNS)
    records = [{"cid": r.get("ipfs_pin_hash"), "name": (r.get("metadata") or {}).get("name"), "size": r.get("size"),
                "date_pinned": r.get("date_pinned")} for r in rows]  # fmt: skip
    frame = pd.DataFrame(records, columns=nft.PIN_COLUMNS)
    return Snapshot(frame, LayerStatus("pinata", rows=len(frame), message=f"pins of {len(set(cids))} CIDs"))


def _valid_cids(values: list) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(parse_cid(str(value))))
        except DecodeError:
            continue
    return out


async def _nft_snapshots(settings: Settings, target: Target, ops: Snapshot) -> dict[str, Snapshot]:
    mints = _column(ops.frame, "mint_address") + ([target.value] if target.kind == "mint" else [])
    chain, txs = await asyncio.gather(
        nft.snapshot_chain_metadata(settings, mints, listing=False),
        nft.snapshot_tx_statuses(settings, _column(ops.frame, "transaction_signature")),
    )
    uris = _column(chain.frame, "uri") + _column(ops.frame, "metadata_uri")
    if target.kind == "cid" and not uris:
        uris = [f"ipfs://{target.value}"]
    objects = await ipfs.snapshot_ipfs_objects(
        settings, uris, _column(ops.frame, "image_uri"), mode="deep", cadence="verify"
    )
    cids = _valid_cids(_column(objects.frame, "cid") + ([target.value] if target.kind == "cid" else []))
    return {
        "solana_metadata_accounts": chain,
        "solana_transaction_statuses": txs,
        "ipfs_objects": objects,
        "pinata_pins": await _pins(settings, cids),
    }


def _block_skipped(why: str) -> dict[str, Snapshot]:
    return {
        "blockstore_kv": skipped("kv", blockstore.TIER_COLUMNS, why),
        "blockstore_r2": skipped("r2", blockstore.TIER_COLUMNS, why),
        "blockstore_ipfs": skipped("ipfs", blockstore.IPFS_COLUMNS, why),
    }


async def _block_snapshots(settings: Settings, number: int) -> dict[str, Snapshot]:
    scope = Scope("verify", "deep", ops="none", blocks="numbers", block_numbers=(number,))
    kv = await blockstore.snapshot_kv(settings, scope)
    numbers = blockstore.scoped_numbers(kv.frame) or [number]
    r2, block_ipfs = await asyncio.gather(
        _r2_blocks(settings, numbers),
        blockstore.snapshot_block_ipfs(settings, kv.frame, mode="deep", cadence="verify"),
    )
    return {"blockstore_kv": kv, "blockstore_r2": r2, "blockstore_ipfs": block_ipfs}


async def _r2_blocks(settings: Settings, numbers: list[int]) -> Snapshot:
    """R2's copies of the blocks read (no pending queue: it belongs to no block)."""
    keys = [fmt.r2_block_key(n) for n in numbers]
    r2 = clients.r2_client(settings)
    try:
        values = await r2.get_many(keys)
    except LayerError as exc:
        return unavailable("r2", exc, blockstore.TIER_COLUMNS)
    finally:
        r2.close()
    frame = blockstore.tier_frame({key: values.get(key) for key in keys})
    return Snapshot(frame, LayerStatus("r2", rows=len(frame), message=f"blocks {numbers}"))


def read_entity(settings: Settings, target: Target) -> dict[str, Snapshot]:
    """Every snapshot a reconciliation has, holding only what judging ``target`` needs (the rest: skipped)."""
    if target.kind == "block":
        none = Scope("verify", "deep", ops="none", blocks="none")
        why = f"verify {target}: no operations"
        return {
            "source_images": skipped("source_images", [], why),
            "db_minting_operations": nft.snapshot_operations(settings, none),
            "db_source_image_registry": skipped("database", [], why),
            "solana_metadata_accounts": skipped("solana", nft.CHAIN_COLUMNS, why),
            "solana_transaction_statuses": skipped("solana", nft.TX_COLUMNS, why),
            "pinata_pins": skipped("pinata", nft.PIN_COLUMNS, why),
            "ipfs_objects": skipped("ipfs", [], why),
            **asyncio.run(_block_snapshots(settings, int(target.value))),
        }
    ops = _operations(settings, target)
    out = {
        "source_images": nft.snapshot_source_images(settings),
        "db_minting_operations": ops,
        "db_source_image_registry": nft.snapshot_table(settings, "read_source_image_registry"),
    }
    out |= asyncio.run(_nft_snapshots(settings, target, ops))
    return out | _block_skipped(f"verify {target}: no blocks")


# -- judging ------------------------------------------------------------------------------------
def entity_keys(target: Target, joined_nft: pd.DataFrame, kv: pd.DataFrame) -> set[tuple[str, str]]:
    """The (entity_type, entity_id) pairs a target covers."""
    if target.kind == "block":
        keys = {("block", target.value)}
        own = kv[(kv["kind"] == "block") & (kv["block_number"] == int(target.value)) & kv["present"]]
        for raw in own["value"]:
            keys |= {("tx", tx_id) for tx_id in fmt.listed_tx_ids(fmt.json_object(raw.encode()) or {})}
        return keys
    rows = joined_nft
    if target.kind == "operation":
        rows = rows[rows["op_id"].astype(str) == target.value]
    elif target.kind == "mint":
        rows = rows[rows["mint"] == target.value]
    keys = {(str(t), str(i)) for t, i in zip(rows["entity_type"], rows["entity_id"], strict=True)}
    keys |= {("operation", str(op)) for op in rows["op_id"].dropna()}
    for column in ("metadata_cid", "image_cid"):
        keys |= {("cid", str(cid)) for cid in rows[column].dropna()}
    keys |= {("level", str(level)) for level in rows["check_level"].dropna()}
    keys |= {("wallet_level", f"{w}:{lv}") for w, lv in zip(rows["wallet"], rows["db_level"], strict=True)
             if isinstance(w, str) and isinstance(lv, str)}  # fmt: skip
    if target.kind == "cid":
        keys.add(("cid", target.value))
    return keys


def own_findings(findings: pd.DataFrame, keys: set[tuple[str, str]]) -> pd.DataFrame:
    """The findings on ``keys``, and the unknowns standing for every entity of a check of those entity types."""
    if findings.empty:
        return findings
    pairs = list(zip(findings["entity_type"], findings["entity_id"].astype(str), strict=True))
    types = {entity_type for entity_type, _ in keys}
    mine = [pair in keys or (pair[1] == WHOLE_CHECK and pair[0] in types) for pair in pairs]
    return findings[mine].reset_index(drop=True)


def verify(settings: Settings, target: Target) -> Verification:
    """Read ``target``'s records on every layer, run every check on them, keep the entity's findings, plan."""
    snapshots = read_entity(settings, target)
    frames = {name: snapshot.frame for name, snapshot in snapshots.items()}
    if target.kind == "block":
        joined_blocks = build_block_consistency(frames, settings)
        findings = in_scope(run_block_checks(frames, settings, blocks=joined_blocks), frames)
        joined_nft = pd.DataFrame(columns=NFT_CONSISTENCY_COLUMNS)
        keys = entity_keys(target, joined_nft, frames["blockstore_kv"])
    else:
        joined_nft = build_nft_consistency(frames, settings)
        joined_blocks = build_block_consistency(frames, settings)  # the skipped tiers: no rows
        findings = nft_findings(joined_nft, frames, settings) if len(joined_nft) else empty_findings()
        keys = entity_keys(target, joined_nft, frames["blockstore_kv"])
    mine = concat_findings([own_findings(findings, keys)])
    plan = build_plan(mine, joined_nft, joined_blocks, settings)
    note = ""
    if target.kind != "block" and snapshots["db_minting_operations"].status.status != "unavailable":
        if snapshots["db_minting_operations"].frame.empty:
            note = f"no minting operation names {target}"
    return Verification(target, snapshots, mine, keys, plan, joined_nft, joined_blocks, note)
