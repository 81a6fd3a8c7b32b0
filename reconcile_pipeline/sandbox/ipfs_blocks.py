"""The root block of a stored UnixFS file, for the local gateways' trustless (``?format=raw``) answers."""

from __future__ import annotations

import functools

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.unixfs import UnixfsBuilder

__all__ = ["root_block"]

_LAYOUTS = [(0, False), (1, True), (1, False), (0, True)]  # (cid version, raw leaves): Kubo's defaults


@functools.lru_cache(maxsize=512)
def root_block(cid: str, data: bytes) -> bytes:
    """The bytes of the root block ``cid`` names when ``data`` is its file; when no layout of ``data`` yields
    ``cid`` (bytes stored under a foreign CID), the root block of ``data``'s default layout."""
    wanted = parse_cid(cid).multihash
    first: bytes | None = None
    for version, raw in _LAYOUTS:
        blocks = _blocks(data, version, raw)
        if wanted in blocks:
            return blocks[wanted]
        first = blocks[None] if first is None else first
    return first if first is not None else data


def _blocks(data: bytes, version: int, raw_leaves: bool) -> dict[bytes | None, bytes]:
    """Every block of ``data``'s DAG in one layout, by multihash; the root also under None."""
    blocks: dict[bytes | None, bytes] = {}
    builder = UnixfsBuilder(version, raw_leaves=raw_leaves, on_block=lambda c, b: blocks.__setitem__(c.multihash, b))
    builder.update(data)
    blocks[None] = blocks[builder.finish().multihash]
    return blocks
