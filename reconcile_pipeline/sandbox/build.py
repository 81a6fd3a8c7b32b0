"""Build a deterministic world and inject the requested faults; produce its manifest.

``build_world(WorldSpec(seed=7, nfts=40, blocks=20, faults=["all"]))`` returns a
:class:`WorldData` whose ``faults`` list is the ground truth: for each injected fault, every
finding (check_id, entity_type, entity_id) the pipeline must produce. A clean world
(``faults=[]``) must produce none.
"""

from __future__ import annotations

from .block_world import build_block_world
from .faults_block import BLOCK_FAULTS, TAMPER_KINDS, BlockPicker, plan_tampering
from .faults_nft import ADDS_NFTS, NFT_FAULTS, NoVictim, VictimPicker
from .nft_world import build_nft_world
from .worlddata import WorldData, WorldSpec

ALL_FAULTS: tuple[str, ...] = (*NFT_FAULTS, *TAMPER_KINDS, *BLOCK_FAULTS)


def resolve_faults(requested: list[str] | str) -> list[str]:
    """'all', 'none', or a list of fault ids (catalogue ids, BLOCK_KV_TAMPERED, BLOCK_GONE; comma-separated too)."""
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",") if part.strip()]
    if requested in ([], ["none"]):
        return []
    if requested == ["all"]:
        return list(ALL_FAULTS)
    unknown = sorted(set(requested) - set(ALL_FAULTS))
    if unknown:
        raise ValueError(f"unknown fault ids {unknown}; known: {', '.join(ALL_FAULTS)}")
    return [fault for fault in ALL_FAULTS if fault in requested]


def _apply(world: WorldData, table: dict, faults: list[str], picker: object) -> None:
    for fault, inject in table.items():
        if fault not in faults:
            continue
        try:
            world.faults.extend(inject(world, picker))
        except NoVictim as exc:
            world.skipped_faults.append({"fault": fault, "reason": str(exc)})


def build_world(spec: WorldSpec) -> WorldData:
    faults = resolve_faults(spec.faults)
    spec.faults = faults
    world = build_nft_world(spec)
    _apply(world, NFT_FAULTS, faults, VictimPicker(world))
    blocks = BlockPicker(world)
    tamper, entries, skipped = plan_tampering(faults, blocks)
    build_block_world(world, tamper)
    world.faults.extend(entries)
    world.skipped_faults.extend(skipped)
    _apply(world, BLOCK_FAULTS, faults, blocks)
    return world


def nft_count(world: WorldData) -> str:
    """``"40 NFTs"``, or with the faults that added some: ``"41 NFTs (40 asked, +1: DB_DUPLICATE_MINT ...)"``."""
    extra = len(world.nfts) - world.spec.nfts
    if extra <= 0:
        return f"{len(world.nfts)} NFTs"
    injected = {entry["fault"] for entry in world.faults}
    why = "; ".join(f"{fault} adds {reason}" for fault, reason in ADDS_NFTS.items() if fault in injected)
    return f"{len(world.nfts)} NFTs ({world.spec.nfts} asked, +{extra}: {why or 'added by the faults'})"


def manifest(world: WorldData, endpoints: dict | None = None) -> dict:
    """The ground truth as JSON-ready data."""
    expected = sorted(
        {(f["check_id"], f["entity_type"], f["entity_id"]) for e in world.faults for f in e["expected_findings"]}
    )
    return {
        "seed": world.spec.seed,
        "nfts": world.spec.nfts,
        "blocks": world.spec.blocks,
        "faults_requested": world.spec.faults,
        "built_at": world.now.isoformat(),
        "update_authority": world.authority,
        "levels": world.levels,
        "mints": sorted(nft.mint for nft in world.nfts),
        "endpoints": endpoints or {},
        "faults": world.faults,
        "skipped_faults": world.skipped_faults,
        "expected_findings": [{"check_id": c, "entity_type": t, "entity_id": i} for c, t, i in expected],
    }
