"""Synthetic NFT snapshot frames at scale (100k .. 1M rows), for the join/check/GX benchmark; no servers.

The frames must look exactly like the snapshots' frames, so the columns and dtypes come from a
*template*: the snapshot frames of a tiny clean local world (8 NFTs, served once, cached). The rows
come from the world builder itself (:func:`~reconcile_pipeline.sandbox.nft_world.make_nft`: real mints,
PDAs, signatures, metadata JSON and its real CID), so the join sees real identifiers and real content.
A fraction of NFTs carries faults (``fault_every``: one NFT in N gets a chain URI naming another
NFT's metadata, another in N an unpinned metadata CID), so the checks produce findings as they would.

Frames are written in parts of ``chunk`` NFTs (``CACHE/chunk{C}/part-00000/{frame}.parquet``), generated
once; a world of N NFTs is the first N/C parts plus the template's constant rows (images, registry).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reconcile_pipeline.sandbox.nft_world import build_nft_world, db_row, image_cid_for, make_nft
from reconcile_pipeline.sandbox.worlddata import BASE_LEVELS, WorldSpec

SEED = 7
TEMPLATE_NFTS = 8
NFT_FRAMES = (
    "db_minting_operations",
    "solana_metadata_accounts",
    "solana_transaction_statuses",
    "pinata_pins",
    "ipfs_objects",
)
CONSTANT_FRAMES = ("source_images", "db_source_image_registry")
READ_BATCH_ROWS = 128 * 1024  # pd.read_parquet (pyarrow dataset) hands a column over in batches of this size


def template_dir(cache: Path) -> Path:
    return cache / "template"


def ensure_template(cache: Path) -> Path:
    """Snapshot a tiny clean world once: its frames (dtypes, constant rows) and its settings."""
    folder = template_dir(cache)
    if (folder / "settings.toml").exists():
        return folder
    import tempfile

    from reconcile_pipeline.sandbox.toml import toml_dumps
    from reconcile_pipeline.sandbox.world import LocalWorld
    from reconcile_pipeline.settings import load_settings
    from reconcile_pipeline.snapshots.collect import collect_snapshots

    folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as scratch,
        LocalWorld(WorldSpec(seed=SEED, nfts=TEMPLATE_NFTS, blocks=2), scratch) as world,
    ):
        document = world.settings_document()
        document["data_dir"] = str(folder / "data")
        config = Path(scratch) / "t.toml"
        config.write_text(toml_dumps(document))
        snapshots = collect_snapshots(load_settings(config), ipfs_mode="regular")
        attrs = {}
        for name, snapshot in snapshots.items():
            snapshot.frame.to_parquet(folder / f"{name}.parquet", index=False)
            attrs[name] = snapshot.frame.attrs
        (folder / "attrs.json").write_text(json.dumps(attrs, default=str))
        (folder / "settings.toml").write_text(toml_dumps(document))
    return folder


class Generator:
    """Rows of the NFT frames for NFT indexes [start, stop), shaped like the template's."""

    def __init__(self, template: Path, fault_every: int) -> None:
        self.template = {name: pd.read_parquet(template / f"{name}.parquet") for name in NFT_FRAMES}
        self.world = build_nft_world(WorldSpec(seed=SEED, nfts=0))
        self.image_cids = {level: image_cid_for(self.world, level) for level in BASE_LEVELS}
        self.fault_every = fault_every
        self.chain_base = self.template["solana_metadata_accounts"].iloc[0].to_dict()
        self.object_base = self._first(self.template["ipfs_objects"], "metadata")
        self.tx_base = self.template["solana_transaction_statuses"].iloc[0].to_dict()
        self.pin_date = self.template["pinata_pins"]["date_pinned"].iloc[0]

    @staticmethod
    def _first(frame: pd.DataFrame, role: str) -> dict:
        return frame[frame["role"] == role].iloc[0].to_dict()

    def _fault(self, index: int, kind: int) -> bool:
        return self.fault_every > 0 and index % self.fault_every == kind

    def rows(self, start: int, stop: int) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {name: [] for name in NFT_FRAMES}
        nfts = []
        for index in range(start, stop + 1):  # one extra: the chain-URI fault names the next NFT's metadata
            level = BASE_LEVELS[index % len(BASE_LEVELS)]
            nfts.append(make_nft(self.world, index, level, self.image_cids[level]))
        self.world.content.clear()
        self.world.pins.clear()
        for position, nft in enumerate(nfts[:-1]):
            index = start + position
            chain_uri = nfts[position + 1].uri if self._fault(index, 1) else nft.uri
            out["db_minting_operations"].append(db_row(nft, self.world))
            out["solana_metadata_accounts"].append(
                self.chain_base
                | {
                    "mint": nft.mint,
                    "pda": nft.pda,
                    "name": nft.name,
                    "uri": chain_uri,
                    "update_authority": nft.update_authority,
                    "creators": [{"address": nft.update_authority, "verified": True, "share": 100}],
                }
            )
            out["solana_transaction_statuses"].append(self.tx_base | {"signature": nft.signature, "slot": 1000 + index})
            if not self._fault(index, 2):
                out["pinata_pins"].append(
                    {
                        "cid": nft.json_cid,
                        "name": f"{nft.name}.json",
                        "size": len(nft.json_bytes),
                        "date_pinned": self.pin_date,
                    }
                )
            text = nft.json_bytes.decode()
            out["ipfs_objects"].append(
                self.object_base
                | {
                    "cid": nft.json_cid,
                    "uris": [nft.uri],
                    "size": len(nft.json_bytes),
                    "sha256": hashlib.sha256(nft.json_bytes).hexdigest(),
                    "content_text": text,
                }
            )
        return out


def _typed(rows: list[dict], template: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=template.columns)
    for column, dtype in template.dtypes.items():
        if dtype != np.dtype(object):
            frame[column] = frame[column].astype(dtype)
    return frame


def ensure_parts(cache: Path, nfts: int, chunk: int, fault_every: int, log=print) -> list[Path]:
    """The part folders covering ``nfts`` NFTs (generating the missing ones)."""
    template = ensure_template(cache)
    root = cache / f"chunk{chunk}-faults{fault_every}"
    parts = [root / f"part-{k:05d}" for k in range(-(-nfts // chunk))]
    missing = [k for k, part in enumerate(parts) if not (part / "done").exists()]
    if missing:
        generator = Generator(template, fault_every)
        for k in missing:
            log(f"generating NFTs {k * chunk}..{(k + 1) * chunk - 1}")
            parts[k].mkdir(parents=True, exist_ok=True)
            for name, rows in generator.rows(k * chunk, (k + 1) * chunk).items():
                table = pa.Table.from_pandas(_typed(rows, generator.template[name]), preserve_index=False)
                pq.write_table(table, parts[k] / f"{name}.parquet")
            (parts[k] / "done").write_text("ok")
    return parts


def load_frames(cache: Path, nfts: int, chunk: int, fault_every: int) -> dict[str, pd.DataFrame]:
    """The snapshot frames of a synthetic world of ``nfts`` NFTs (read from Parquet, as the IO manager does)."""
    template = template_dir(cache)
    parts = ensure_parts(cache, nfts, chunk, fault_every)
    attrs = json.loads((template / "attrs.json").read_text())
    frames: dict[str, pd.DataFrame] = {}
    for name in NFT_FRAMES:
        tables = [pq.read_table(part / f"{name}.parquet") for part in parts]
        # chunked as the IO manager's read of one asset file is (batches of 128Ki rows), not by part
        table = pa.concat_tables(tables).combine_chunks()
        frame = pa.Table.from_batches(table.to_batches(max_chunksize=READ_BATCH_ROWS), table.schema).to_pandas()
        if name in ("ipfs_objects", "pinata_pins"):  # the images: rows every world has once
            constant = pd.read_parquet(template / f"{name}.parquet")
            if name == "ipfs_objects":
                constant = constant[constant["role"] == "image"]
            else:
                constant = constant[constant["name"].str.endswith(".png")]
            frame = pd.concat([frame, constant.astype(frame.dtypes.to_dict())], ignore_index=True)
        frames[name] = frame
    for name in CONSTANT_FRAMES:
        frames[name] = pd.read_parquet(template / f"{name}.parquet")
    for name, frame in frames.items():
        frame.attrs = {"read_status": attrs[name]["read_status"] | {"rows": len(frame)}}
    return frames
