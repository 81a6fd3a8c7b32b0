"""The sharded deep scan's memory (issue 8: "peak memory flat as the world grows"), one fresh process each.

:func:`real_run` — one deep run through Dagster in process (:func:`reconcile_pipeline.runner.run_scope`)
against a served local world: the whole world (``shard`` None) or one shard (``"i/n"``). Peak RSS of the
run (VmHWM reset after the imports) and the process's peak, both in MiB.

:func:`synthetic_shard` — one shard's load + join + checks + metrics + GX over the synthetic frames of
:mod:`bench.frames` (no servers) at a world size: the parts are read one at a time and filtered with the
production shard function (:func:`reconcile_pipeline.shards.operation_bytes`) as the sharded database read
streams its chunks; the chain rows by the shard's mints and the listing's first bytes, signatures and IPFS
objects by the shard's rows. ``pins``: ``"shard"`` keeps only the pins the shard's CIDs name (what a deep
shard run holds), ``"whole"`` Pinata's whole pin list (a comparison).
"""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import pandas as pd

from .proc import peak_rss_mb, reset_peak, rss_mb

CID_IN_URI = re.compile(r"(?:ipfs://|/ipfs/)([A-Za-z0-9]+)")
IMAGE_IN_JSON = re.compile(r'"image"\s*:\s*"([^"]+)"')


def _imports() -> None:
    import great_expectations  # noqa: F401 - loaded before the baseline, as a run's process has it

    from reconcile_pipeline import runner  # noqa: F401


def real_run(config: str, shard: str | None = None) -> dict:
    _imports()
    from reconcile_pipeline.cadences import deep_scope
    from reconcile_pipeline.runner import run_scope
    from reconcile_pipeline.shards import Shard

    scope = deep_scope(Shard.parse(shard) if shard else None)
    gc.collect()
    after_imports = rss_mb()
    reset_peak()
    started = time.perf_counter()
    summary = run_scope(config, scope, alerts=False)
    wall = round(time.perf_counter() - started, 2)
    run_peak = peak_rss_mb()
    findings = summary.assets.get("consistency_findings", {})
    return {
        "scope": scope.summary(),
        "success": summary.success,
        "operations_read": summary.assets.get("db_minting_operations", {}).get("dagster/row_count"),
        "chain_rows": summary.assets.get("solana_metadata_accounts", {}).get("dagster/row_count"),
        "findings": {"fail": findings.get("fail"), "unknown": findings.get("unknown")},
        "wall_s": wall,
        "rss_after_imports_mb": after_imports,
        "run_peak_rss_mb": run_peak,
        "run_peak_above_imports_mb": round(run_peak - after_imports, 1),
    }


def _cids(uris: pd.Series) -> set[str]:
    return {match.group(1) for uri in uris.dropna() for match in CID_IN_URI.finditer(str(uri))}


def _read(part: Path, name: str):
    import pyarrow.parquet as pq

    return pq.read_table(part / f"{name}.parquet")


def _isin(table, column: str, values: set):
    import pyarrow as pa
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table.column(column), value_set=pa.array(sorted(values), pa.string())))


def _shard_part(part: Path, shard, kept: dict[str, list], pins: str) -> None:
    """One part (``chunk`` NFTs) cut down to the shard's rows in Arrow (the rows left behind never become
    Python objects; those kept become pandas once, compactly, at the end), as the sharded reads keep them."""
    import pyarrow as pa

    from reconcile_pipeline.shards import mint_first_byte, operation_bytes

    ops = _read(part, "db_minting_operations")
    placed = operation_bytes(ops.column("mint_address").to_pylist(), ops.column("id").to_pylist())
    ops = ops.filter(pa.array([shard.holds(byte) for byte in placed]))
    chain = _read(part, "solana_metadata_accounts")
    listed = [(b := mint_first_byte(m)) is not None and shard.holds(b) for m in chain.column("mint").to_pylist()]
    mints = set(ops.column("mint_address").drop_null().to_pylist())
    ours = [m in mints for m in chain.column("mint").to_pylist()]
    chain = chain.filter(pa.array([a or b for a, b in zip(listed, ours, strict=True)]))
    signatures = set(ops.column("transaction_signature").drop_null().to_pylist())
    txs = _isin(_read(part, "solana_transaction_statuses"), "signature", signatures)
    uris = [*ops.column("metadata_uri").to_pylist(), *ops.column("image_uri").to_pylist()]
    uris = pd.Series(uris + chain.column("uri").to_pylist())
    cids = _cids(uris)
    objects = _read(part, "ipfs_objects")
    texts = _isin(objects, "cid", cids).column("content_text").drop_null().to_pylist()
    cids |= _cids(pd.Series([m.group(1) for text in texts for m in IMAGE_IN_JSON.finditer(text)]))  # JSON images
    pins_part = _read(part, "pinata_pins")
    for name, table in (
        ("db_minting_operations", ops),
        ("solana_metadata_accounts", chain),
        ("solana_transaction_statuses", txs),
        ("ipfs_objects", _isin(objects, "cid", cids)),
        ("pinata_pins", _isin(pins_part, "cid", cids) if pins == "shard" else pins_part),
    ):
        kept[name].append(table)


def load_shard(cache: Path, nfts: int, chunk: int, fault_every: int, shard, pins: str) -> dict[str, pd.DataFrame]:
    import json

    import pyarrow as pa

    from .frames import CONSTANT_FRAMES, NFT_FRAMES, ensure_parts, template_dir

    template = template_dir(cache)
    kept: dict[str, list] = {name: [] for name in NFT_FRAMES}
    for part in ensure_parts(cache, nfts, chunk, fault_every):
        _shard_part(part, shard, kept, pins)
    frames = {name: pa.concat_tables(tables).to_pandas() for name, tables in kept.items()}
    for name in ("ipfs_objects", "pinata_pins"):  # the level images: rows every world has once
        constant = pd.read_parquet(template / f"{name}.parquet")
        images = constant["role"] == "image" if name == "ipfs_objects" else constant["name"].str.endswith(".png")
        frames[name] = pd.concat([frames[name], constant[images].astype(frames[name].dtypes.to_dict())])
        frames[name] = frames[name].reset_index(drop=True)
    for name in CONSTANT_FRAMES:
        frames[name] = pd.read_parquet(template / f"{name}.parquet")
    attrs = json.loads((template / "attrs.json").read_text())
    for name, frame in frames.items():
        frame.attrs = {"read_status": attrs[name]["read_status"] | {"rows": len(frame)}}
    return frames


def synthetic_shard(
    cache_dir: str,
    nfts: int,
    chunk: int,
    fault_every: int,
    shard_size: int,
    pins: str = "whole",
    gx: bool = True,
    shard_index: int = 0,
    keys: bool = False,
) -> dict:
    from reconcile_pipeline.checks.gx_runner import validate_frame
    from reconcile_pipeline.checks.nft_checks import nft_findings
    from reconcile_pipeline.checks.nft_checks_metrics import nft_metrics
    from reconcile_pipeline.checks.nft_join import build_nft_consistency
    from reconcile_pipeline.settings import load_settings
    from reconcile_pipeline.shards import Shard, shard_count

    from .frames import template_dir
    from .scale import _stage, finding_keys

    cache = Path(cache_dir)
    settings = load_settings(template_dir(cache) / "settings.toml")
    shard = Shard(shard_index, shard_count(nfts, shard_size))
    if gx:
        import great_expectations  # noqa: F401 - in the baseline: every run's process has it
    timings: dict[str, float] = {}
    peaks: dict[str, float] = {}
    after_imports = rss_mb()
    frames = _stage("load_shard", timings, peaks, load_shard, cache, nfts, chunk, fault_every, shard, pins)
    joined = _stage("join", timings, peaks, build_nft_consistency, frames, settings)
    findings = _stage("checks", timings, peaks, nft_findings, joined, frames, settings)
    _stage("metrics", timings, peaks, nft_metrics, joined, findings, frames)
    if gx:
        parameters = {"update_authorities": [settings.solana.update_authority]}
        _stage("gx", timings, peaks, validate_frame, joined, "nft_consistency", parameters)
    work = [name for name in ("join", "checks", "metrics", "gx") if name in peaks]
    return {
        "nfts": nfts,
        "shard": shard.key,
        "pins": pins,
        "rows": {name: len(frame) for name, frame in frames.items()} | {"nft_consistency": len(joined)},
        "findings": len(findings),
        **({"finding_keys": finding_keys(findings)} if keys else {}),
        "timings_s": timings,
        "rss_after_imports_mb": after_imports,
        "stage_peak_rss_mb": peaks,
        "load_peak_rss_mb": peaks["load_shard"],
        "work_peak_rss_mb": max(peaks[name] for name in work),
        "peak_rss_mb": max(peaks.values()),
    }


def ensure_db(cache: Path, nfts: int, chunk: int, fault_every: int) -> str:
    """A SQLite database holding the synthetic world's ``minting_operations`` (built once, cached)."""
    from reconcile_pipeline.db.migrate import migrate
    from reconcile_pipeline.layers.database import DatabaseClient

    from .frames import ensure_parts

    path = cache / f"deep-db-{nfts}.sqlite"
    url = f"sqlite:///{path}"
    if (cache / f"deep-db-{nfts}.done").exists():
        return url
    path.unlink(missing_ok=True)
    migrate(url)
    with DatabaseClient(url) as db:
        for part in ensure_parts(cache, nfts, chunk, fault_every):
            db.insert_minting_operations(pd.read_parquet(part / "db_minting_operations.parquet").to_dict("records"))
    (cache / f"deep-db-{nfts}.done").write_text("ok")
    return url


def db_shard_read(url: str, nfts: int, shard_size: int) -> dict:
    """Peak RSS of one shard's database read (the table streamed, the shard's rows kept) vs the whole read."""
    from reconcile_pipeline.cadences import CONFIRMED_STATES
    from reconcile_pipeline.layers.database import DatabaseClient
    from reconcile_pipeline.shards import Shard, shard_count

    shard = Shard(0, shard_count(nfts, shard_size))
    gc.collect()
    after_imports = rss_mb()
    reset_peak()
    started = time.perf_counter()
    with DatabaseClient(url) as db:
        frame = db.read_minting_operations(shard=shard, group_statuses=CONFIRMED_STATES)
    return {
        "nfts": nfts,
        "shard": shard.key,
        "rows_kept": len(frame),
        "wall_s": round(time.perf_counter() - started, 2),
        "rss_after_imports_mb": after_imports,
        "read_peak_rss_mb": peak_rss_mb(),
        "read_peak_above_imports_mb": round(peak_rss_mb() - after_imports, 1),
    }
