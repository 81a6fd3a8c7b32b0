"""Snapshot of IPFS objects: metadata JSON and images, by CID, through the configured gateways.

URIs (on-chain and DB metadata URIs, DB image URIs, then the ``image`` of each metadata JSON)
are resolved by the URL policy: IPFS references become (cid, path) on every configured
gateway; anything else is refused and recorded with status ``refused`` (never fetched).
Each unique object is read once (content verified against its CID) and, per ``mode``:

- ``deep``: GET from every gateway and verify each copy (finds a gateway serving wrong bytes);
- ``regular``: HEAD the other gateways (availability only, no bytes moved).

One row per object: cid, path, role (metadata | image), the URIs that named it, status
(ok | missing | unavailable | invalid | refused), verified, size, sha256, content_text (JSON
only), error, gateway_statuses (JSON text: gateway -> status), gateways_ok, gateways_integrity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import pandas as pd

from .. import clients
from ..layers.errors import LayerError
from ..settings import Settings
from .base import Snapshot, status_from

OBJECT_COLUMNS = [
    "cid",
    "path",
    "role",
    "uris",
    "status",
    "verified",
    "size",
    "sha256",
    "content_text",
    "error",
    "gateway_statuses",
    "gateways_ok",
    "gateways_integrity",
]


def resolve(policy, uris: list[str], role: str) -> tuple[dict[tuple[str, str], dict], list[dict]]:
    """Group URIs by the object they name; refused URIs become rows of their own."""
    objects: dict[tuple[str, str], dict] = {}
    refused: list[dict] = []
    for uri in sorted({u for u in uris if isinstance(u, str) and u}):
        try:
            cid, path, _ = policy.candidates(uri)
        except LayerError as exc:
            refused.append(_row(None, "", role, [uri], "refused", error=str(exc)))
            continue
        if cid is None:
            refused.append(_row(None, "", role, [uri], "refused", error="not an IPFS reference"))
            continue
        objects.setdefault((str(cid), path), _row(str(cid), path, role, [], "pending"))["uris"].append(uri)
    return objects, refused


def _row(cid: str | None, path: str, role: str, uris: list[str], status: str, **extra: object) -> dict:
    row = dict.fromkeys(OBJECT_COLUMNS)
    row.update(cid=cid, path=path, role=role, uris=uris, status=status, gateways_ok=0, gateways_integrity=0)
    row.update(extra)
    return row


def _fill(row: dict, read, gateway_reads: list, max_json_bytes: int) -> None:
    row.update(status=read.status, verified=read.verified, error=read.error)
    if read.content is not None:
        row.update(size=len(read.content), sha256=hashlib.sha256(read.content).hexdigest())
        if row["role"] == "metadata" and len(read.content) <= max_json_bytes:
            row["content_text"] = read.content.decode("utf-8", errors="replace")
    statuses = {g.gateway: g.status for g in gateway_reads} or {g.gateway: g.status for g in read.gateways}
    row.update(
        gateway_statuses=json.dumps(statuses),
        gateways_ok=sum(s == "ok" for s in statuses.values()),
        gateways_integrity=sum(s == "integrity" for s in statuses.values()),
    )


async def _read_object(gateway, row: dict, mode: str, max_json_bytes: int) -> None:
    cid, path = row["cid"], row["path"]
    read = await gateway.fetch(cid, path)
    if path:
        per_gateway = await gateway.probe(cid, path)
    elif mode == "deep":
        per_gateway = await gateway.fetch_all_gateways(cid)
    else:
        per_gateway = await gateway.probe(cid)
    _fill(row, read, per_gateway, max_json_bytes)


def image_uris(metadata_rows: list[dict]) -> list[str]:
    uris = []
    for row in metadata_rows:
        try:
            document = json.loads(row["content_text"]) if row["content_text"] else None
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("image"), str):
            uris.append(document["image"])
    return uris


async def snapshot_ipfs_objects(
    settings: Settings, metadata_uris: list[str], db_image_uris: list[str], *, mode: str = "deep"
) -> Snapshot:
    policy = clients.url_policy(settings)
    max_json = settings.ipfs.max_json_bytes
    metadata, refused = resolve(policy, metadata_uris, "metadata")
    async with clients.gateway_client(settings) as gateway:
        await asyncio.gather(*(_read_object(gateway, row, mode, max_json) for row in metadata.values()))
        images, refused_images = resolve(policy, [*db_image_uris, *image_uris(list(metadata.values()))], "image")
        images = {key: row for key, row in images.items() if key not in metadata}
        await asyncio.gather(*(_read_object(gateway, row, mode, max_json) for row in images.values()))
    rows = [*metadata.values(), *images.values(), *refused, *refused_images]
    frame = pd.DataFrame(rows, columns=OBJECT_COLUMNS)
    return Snapshot(frame, status_from("ipfs", frame))
