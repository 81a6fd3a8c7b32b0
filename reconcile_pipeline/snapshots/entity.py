"""Read one entity's records on every layer (no Dagster): what `reconcile verify` judges (:mod:`..verify`).

A :class:`Target` is an operation id, a mint, a block number or a CID. :func:`read_entity` returns every
snapshot a reconciliation has, holding only that entity's records; the rest are ``skipped`` (readable,
judged on nothing):

- an operation (or a mint, or a CID, through the operations that name it): its database rows (by id, by
  mint; a CID: the rows whose metadata or image URI names it, found by SQL), the level images and the
  registry (a few rows), the chain accounts of its mints (a mint without a row too), its transactions, its
  content on every gateway (re-downloaded and re-hashed), and its CIDs' pins (``hashContains`` queries, not
  the pin list);
- a block: KV for that block as a scoped run reads it (its predecessor and the head as context, the
  ``vdc:tx`` entries of its transactions), the R2 copies of those blocks (not the pending queue), and the
  block's IPFS copy.

A layer that cannot be read is ``unavailable`` (its checks are unknown), never empty.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pandas as pd

from .. import clients
from ..cadences import Scope
from ..layers import blocks as fmt
from ..layers.cid import parse_cid
from ..layers.errors import DecodeError, LayerError
from ..settings import Settings
from . import blockstore, ipfs, nft
from .base import LayerStatus, Snapshot, skipped, unavailable

KINDS = ("operation", "mint", "block", "cid")


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
