"""Re-pin exact bytes to IPFS (Pinata) by CID; the shared pinning step of the block repairs too.

Bytes are only pinned when they are exactly what the CID names: taken from the content archive
(re-verified on read), from a gateway's verified copy, or from the level's source image, and only if
the CID ``ipfs add`` would give them, with the layout Pinata will use (CIDv0 dag-pb leaves, CIDv1 raw
leaves), *is* the expected CID: :func:`pin_version`. Otherwise it is not a repair (manual review).
Pinata is asked for that CID (``expected_cid``: another answer is an IntegrityError). Every verified
copy also goes into the archive, so later re-pins stay possible.
"""

from __future__ import annotations

from pathlib import Path

from ..layers.cid import parse_cid
from ..layers.source_images import validate_level_name
from ..layers.unixfs import cid_matches, unixfs_cid
from .actions import Action
from .context import ApplyContext, RepairRefused


def pin_version(cid: str, data: bytes) -> int | None:
    """The ``cidVersion`` for which Pinata's ``ipfs add`` of ``data`` yields ``cid`` (same multihash), else None."""
    expected = parse_cid(cid)
    for version in (expected.version, 1 - expected.version):
        made = unixfs_cid(data, cid_version=version)
        if made.codec == expected.codec and made.multihash == expected.multihash:
            return version
    return None


def is_pinned(ctx: ApplyContext, cid: str) -> bool:
    """Whether Pinata pins ``cid`` now (either CID version; a query for that CID, not the whole pin list)."""
    return ctx.run(ctx.pinata.is_pinned(cid))


def exact_bytes(
    ctx: ApplyContext, cid: str, level: str | None, served: bytes | None = None
) -> tuple[bytes, str] | None:
    """(bytes that hash to ``cid``, where they came from), or None when no copy is exact."""
    archived = ctx.archive.get(cid)
    if archived is not None:
        return archived, "archive"
    if served is not None and cid_matches(cid, served):
        ctx.archive.put(cid, served)
        return served, "gateway"
    if level:
        path = Path(ctx.settings.source_images.assets_dir) / f"{validate_level_name(level)}.png"
        data = path.read_bytes() if path.is_file() else None
        if data is not None and cid_matches(cid, data):
            ctx.archive.put(cid, data)
            return data, "source image"
    return None


def pin_exact(ctx: ApplyContext, cid: str, data: bytes, name: str) -> str:
    """Pin ``data`` as ``cid`` (refused unless the recomputed CID is the expected one); returns the pinned CID."""
    version = pin_version(cid, data)
    if version is None:
        raise RepairRefused(f"the recomputed CID of these bytes is not {cid}: not a byte-exact re-pin")
    ctx.archive.put(cid, data)
    return ctx.run(ctx.pinata_write.pin_file(data, name, cid_version=version, expected_cid=cid))


def _read(ctx: ApplyContext, cid: str):
    return ctx.run(ctx.gateways.fetch(cid))


class RepinExact:
    """IPFS_REPIN_EXACT: every object of the action retrievable from a gateway (verified) and pinned."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        states = []
        for obj in action.target["objects"]:
            read = _read(ctx, obj["cid"])
            states.append({"cid": obj["cid"], "read": read.status, "verified": read.verified,
                           "pinned": is_pinned(ctx, obj["cid"])})  # fmt: skip
        return {"objects": states}

    def done(self, action: Action, current: dict) -> bool:
        return all(o["read"] == "ok" and o["verified"] and o["pinned"] for o in current["objects"])

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        written = []
        for obj, state in zip(action.target["objects"], current["objects"], strict=True):
            if state["read"] == "ok" and state["verified"] and state["pinned"]:
                continue
            served = _read(ctx, obj["cid"]).content if state["read"] == "ok" else None
            found = exact_bytes(ctx, obj["cid"], obj.get("level"), served)
            if found is None:
                raise RepairRefused(f"no copy of {obj['cid']} hashes to it (archive, gateways, source image)")
            data, origin = found
            pinned = pin_exact(ctx, obj["cid"], data, f"reconcile re-pin {obj.get('role') or 'object'} {obj['cid']}")
            written.append({"cid": pinned, "bytes": len(data), "from": origin})
        return {"pinned": written}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        return {"ok": self.done(action, now), **now}
