"""Snapshot of IPFS objects: metadata JSON and images, by CID, through the configured gateways.

URIs (on-chain and DB metadata URIs, DB image URIs, then the ``image`` of each metadata JSON)
are resolved by the URL policy: IPFS references become (cid, path) on every configured
gateway; anything else is refused and recorded with status ``refused`` (never fetched).
Each unique object is read once (content verified against its CID) and, per ``mode``
(:mod:`.ipfs_read`):

- ``deep``: GET from every gateway and verify each copy (finds a gateway serving wrong bytes);
- ``regular``: content already verified by CID (bytes in the content archive, or for an image its hash
  in the verification state) is not downloaded again: every gateway is asked for its raw root block,
  verified against the CID (a gateway serving wrong bytes is found on every run); other content is read
  once and the other gateways probed the same way.

Every object verified against its CID goes into the content archive, every read into the verification
state (:mod:`.content`).

One row per object: cid, path, role (metadata | image), the URIs that named it, status
(ok | missing | unavailable | invalid | refused), verified, size, sha256, content_text (JSON
only), error, gateway_statuses (JSON text: gateway -> status), gateways_ok, gateways_integrity.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from .. import clients
from ..jsonsafe import loads_bounded
from ..layers.errors import DecodeError, LayerError
from ..settings import Settings
from .base import Snapshot, status_from
from .content import VerifiedContent
from .ipfs_read import ARCHIVE_WRITERS, read_object

MAX_METADATA_TEXT = 64 * 1024 * 1024  # content_text is already capped at ipfs.max_json_bytes; this only bounds
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


def image_uris(metadata_rows: list[dict]) -> list[str]:
    """The ``image`` of each metadata JSON that parses within bounds (a bracket bomb or a lone surrogate does
    not: the checks judge that document; it names no image to read)."""
    uris = []
    for row in metadata_rows:
        if not row["content_text"]:
            continue
        try:
            document = loads_bounded(row["content_text"], max_bytes=MAX_METADATA_TEXT, layer="ipfs", where=row["cid"])
        except DecodeError:
            continue
        if isinstance(document, dict) and isinstance(document.get("image"), str):
            uris.append(document["image"])
    return uris


async def snapshot_ipfs_objects(
    settings: Settings,
    metadata_uris: list[str],
    db_image_uris: list[str],
    *,
    mode: str = "deep",
    cadence: str | None = None,
    run_id: str | None = None,
) -> Snapshot:
    policy = clients.url_policy(settings)
    max_json = settings.ipfs.max_json_bytes
    content = VerifiedContent(settings, use_known=mode != "deep", cadence=cadence, run_id=run_id)
    metadata, refused = resolve(policy, metadata_uris, "metadata")
    async with clients.gateway_client(settings) as gateway:
        with ThreadPoolExecutor(ARCHIVE_WRITERS, thread_name_prefix="archive") as writers:  # off the event loop

            async def read_all(rows: dict[tuple[str, str], dict]) -> None:
                content.load_states([cid for cid, _ in rows])
                await asyncio.gather(
                    *(read_object(gateway, row, mode, max_json, content, writers) for row in rows.values())
                )

            await read_all(metadata)
            images, refused_images = resolve(policy, [*db_image_uris, *image_uris(list(metadata.values()))], "image")
            images = {key: row for key, row in images.items() if key not in metadata}
            await read_all(images)
    content.save()
    rows = [*metadata.values(), *images.values(), *refused, *refused_images]
    frame = pd.DataFrame(rows, columns=OBJECT_COLUMNS)
    status = status_from("ipfs", frame)
    status.counts = status.counts | {f"content_{name}": n for name, n in content.counts().items()}
    return Snapshot(frame, status)
