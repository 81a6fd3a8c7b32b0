"""The deep scan as Dagster partitions: the whole asset graph again under ``deep/``, partitioned by shard.

The snapshot, consistency, repair and report assets are shared by the immediate, frequent and regular
cadences and are not partitioned; Dagster wants every asset of a partitioned job to share its partitions
definition. So the deep scan gets its own copy of the graph: the same functions (no code is duplicated),
keys under ``deep/``, groups ``deep_*``, the GX suites as asset checks on ``deep/nft_consistency`` and
``deep/block_consistency``, partitioned by the dynamic partitions ``deep_shards``. A partition key is a
shard (``64-007``: shard 7 of 64; ``1-000``: an unsharded scan, :mod:`..shards`); the daily schedule adds
the day's keys and requests one run per shard, and the UI shows each shard's status, its lineage and its
checks, and can re-run one shard or backfill them all. A partition's run reads its shard: the scope comes
from the run's tags, or from Dagster's ``dagster/partition`` tag (:func:`..cadences.scope_from_tags`).
Files are written where every other run's are (the IO manager keys them by asset name and run id).
"""

import asyncio

import pandas as pd
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DynamicPartitionsDefinition,
    Output,
    asset,
)

from ..snapshots import nft
from .assets import run_scope, snapshot_output
from .gx_checks import build_gx_checks
from .resources import SettingsResource

PREFIX = "deep"
DEEP_SHARDS = DynamicPartitionsDefinition(name="deep_shards")
_PIN_INPUTS = ("db_minting_operations", "solana_metadata_accounts", "ipfs_objects")


def deep_variant(original: AssetsDefinition) -> AssetsDefinition:
    """``original``'s function as ``deep/<name>``, partitioned by shard, reading the ``deep/`` upstreams."""
    key = original.key
    spec = original.specs_by_key[key]
    ins = {
        name: AssetIn(key=AssetKey([PREFIX, *upstream.path])) for name, upstream in original.keys_by_input_name.items()
    }
    checks = [  # consistency_findings' outcome checks
        AssetCheckSpec(check.name, asset=AssetKey([PREFIX, *key.path]), description=check.description)
        for check in original.check_specs
    ]
    return asset(
        name=key.path[-1],
        key_prefix=[PREFIX],
        ins=ins,
        partitions_def=DEEP_SHARDS,
        group_name=f"{PREFIX}_{spec.group_name or 'default'}",
        description=f"Deep scan, one shard per partition. {spec.description or ''}".strip(),
        kinds=set(spec.kinds),
        check_specs=checks or None,
    )(original.op.compute_fn.decorated_fn)


def _shard_cids(*columns: pd.Series) -> set[str]:
    """The CIDv1 keys of every CID or IPFS URI in ``columns`` (a shard's rows: DB, chain, IPFS objects)."""
    from ..checks.nft_join_keys import cid_key, ref_key

    keys: set[str] = set()
    for column in columns:
        for text in column.dropna().unique():
            key = cid_key(text) or ref_key(text)
            if key:
                keys.add(key.split("/", 1)[0])
    return keys


@asset(
    name="pinata_pins",
    key_prefix=[PREFIX],
    ins={name: AssetIn(key=AssetKey([PREFIX, name])) for name in _PIN_INPUTS},
    partitions_def=DEEP_SHARDS,
    group_name=f"{PREFIX}_snapshots",
    kinds={"parquet", "ipfs"},
    description="Deep scan, one shard per partition. Pinata's pin list, streamed page by page, keeping the pins "
    "of the CIDs the shard's rows name (a shard never holds the whole list).",
)
def deep_pinata_pins(
    context: AssetExecutionContext,
    settings: SettingsResource,
    db_minting_operations: pd.DataFrame,
    solana_metadata_accounts: pd.DataFrame,
    ipfs_objects: pd.DataFrame,
) -> Output[pd.DataFrame]:
    from ..checks.nft_join_keys import cid_key

    named = [frame[column] for frame, column in ((db_minting_operations, "metadata_uri"),
             (db_minting_operations, "image_uri"), (solana_metadata_accounts, "uri"), (ipfs_objects, "cid"))
             if column in frame]  # fmt: skip
    wanted = _shard_cids(*named)
    scope = run_scope(context)

    def keep(cid: str) -> bool:
        key = cid_key(cid)
        return key is not None and key in wanted

    return snapshot_output(asyncio.run(nft.snapshot_pins(settings.load(), scope, keep=keep)), scope)


def deep_graph(assets: list[AssetsDefinition]) -> tuple[list[AssetsDefinition], list]:
    """The deep copies of ``assets`` (the pin list filtered to the shard) and of the GX asset checks."""
    copies = [deep_pinata_pins if a.key == AssetKey("pinata_pins") else deep_variant(a) for a in assets]
    return copies, build_gx_checks((PREFIX,))


def deep_selection() -> AssetSelection:
    return AssetSelection.key_prefixes([PREFIX])


def main_selection() -> AssetSelection:
    """Every asset but the deep scan's copies (what the other cadences run)."""
    return AssetSelection.all() - deep_selection()
