"""Test kit: start a local world, read every layer, compare findings with the manifest.

Import from tests (``from tests.worldkit import running_world``); no fixtures here, so each test
file decides its own scope.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from reconcile_pipeline.sandbox.world import LocalWorld
from reconcile_pipeline.sandbox.worlddata import WorldSpec
from reconcile_pipeline.settings import Settings, load_settings
from reconcile_pipeline.snapshots.collect import collect_snapshots


@contextlib.contextmanager
def running_world(
    directory: Path,
    *,
    seed: int = 7,
    nfts: int = 24,
    blocks: int = 16,
    faults: list[str] | str = "all",
    db_url: str | None = None,
) -> Iterator[tuple[LocalWorld, Settings]]:
    spec = WorldSpec(seed=seed, nfts=nfts, blocks=blocks, faults=faults)  # "all", "none", "A,B" or a list
    with LocalWorld(spec, directory, db_url=db_url) as world:
        config = world.write_config(Path(directory) / "reconcile.toml")
        yield world, load_settings(config)


def snapshot_frames(settings: Settings, **kwargs: object) -> dict[str, pd.DataFrame]:
    return {name: snap.frame for name, snap in collect_snapshots(settings, **kwargs).items()}


def expected_findings(manifest: dict, check_ids: tuple[str, ...] | None = None) -> set[tuple[str, str, str]]:
    return {
        (f["check_id"], f["entity_type"], f["entity_id"])
        for f in manifest["expected_findings"]
        if check_ids is None or f["check_id"] in check_ids
    }


def finding_keys(findings: pd.DataFrame, status: str = "fail") -> set[tuple[str, str, str]]:
    rows = findings[findings["status"] == status]
    return set(zip(rows["check_id"], rows["entity_type"], rows["entity_id"].astype(str), strict=True))


def remove_r2_block(settings, number: int) -> None:
    """A fault made by hand: an S3 DELETE of one block's R2 copy (moto's server)."""
    import boto3

    from reconcile_pipeline.layers import blocks as fmt

    bs = settings.blockstore
    s3 = boto3.client("s3", endpoint_url=bs.r2_endpoint_url, region_name="us-east-1",
                      aws_access_key_id=bs.r2_access_key_id.get_secret_value(),
                      aws_secret_access_key=bs.r2_secret_access_key.get_secret_value())  # fmt: skip
    s3.delete_object(Bucket=bs.r2_bucket, Key=fmt.r2_block_key(number))
