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

from __future__ import annotations

from dagster import AssetIn, AssetKey, AssetsDefinition, AssetSelection, DynamicPartitionsDefinition, asset

from ..cadences import TAG_CADENCE
from .gx_checks import build_gx_checks

PREFIX = "deep"
DEEP_SHARDS = DynamicPartitionsDefinition(name="deep_shards")


def deep_variant(original: AssetsDefinition) -> AssetsDefinition:
    """``original``'s function as ``deep/<name>``, partitioned by shard, reading the ``deep/`` upstreams."""
    key = original.key
    spec = original.specs_by_key[key]
    ins = {
        name: AssetIn(key=AssetKey([PREFIX, *upstream.path])) for name, upstream in original.keys_by_input_name.items()
    }
    return asset(
        name=key.path[-1],
        key_prefix=[PREFIX],
        ins=ins,
        partitions_def=DEEP_SHARDS,
        group_name=f"{PREFIX}_{spec.group_name or 'default'}",
        description=f"Deep scan, one shard per partition. {spec.description or ''}".strip(),
        kinds=set(spec.kinds),
    )(original.op.compute_fn.decorated_fn)


def deep_graph(assets: list[AssetsDefinition]) -> tuple[list[AssetsDefinition], list]:
    """The deep copies of ``assets`` and of the GX asset checks."""
    return [deep_variant(original) for original in assets], build_gx_checks((PREFIX,))


def deep_selection() -> AssetSelection:
    return AssetSelection.key_prefixes([PREFIX])


def main_selection() -> AssetSelection:
    """Every asset but the deep scan's copies (what the other cadences run)."""
    return AssetSelection.all() - deep_selection()


def deep_job_tags() -> dict[str, str]:
    return {TAG_CADENCE: "deep"}
