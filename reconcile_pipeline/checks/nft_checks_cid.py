"""Per-CID IPFS checks: IPFS_CID_INTEGRITY, IPFS_NOT_PINNED, IPFS_PROPAGATION_PARTIAL (k of n gateways).

:func:`cid_objects` gathers the objects the NFTs use (each row's metadata object and the image it names,
one row per CID and path). A gateway that could not be read neither has nor lacks an object: with ``ok``
gateways serving it and ``unreadable`` unknown ones, propagation fails only when even
``ok + unreadable < k``, is unknown while ``ok < k <= ok + unreadable``, and is left to
DATABASE_SUCCESS_IPFS_FAILURE when no gateway serves it. Integrity is unknown while a gateway could not be
read and none served wrong bytes.
"""

from __future__ import annotations

import json

import pandas as pd

from ..settings import Settings
from .nft_checks_common import Verdict, emit_verdict, flag, isin, present
from .nft_join_ipfs import omap

FIELDS = [
    "cid",
    "path",
    "read",
    "error",
    "gateway_statuses",
    "gateways_ok",
    "gateways_unreadable",
    "gateways_integrity",
    "pin",
]
MAX_NAMED_BY = 20


def _statuses(text: object) -> dict | None:
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def unread_reason(objects: pd.DataFrame) -> pd.Series:
    """Which gateways could not be read for each object (or why the object was not read at all)."""

    def text(statuses: dict | None, error: object) -> str:
        names = sorted(g for g, v in (statuses or {}).items() if v == "unavailable")
        return f"gateways unreadable: {', '.join(names)}" if names else f"object not read: {error}"

    pairs = zip(objects["gateway_statuses"], objects["error"].astype("object"), strict=True)
    return pd.Series([text(s, e) for s, e in pairs], index=objects.index, dtype="object")


def cid_objects(nft: pd.DataFrame) -> pd.DataFrame:
    """One row per (cid, path) used by an NFT: read status, per-gateway counts, pin, and the NFTs naming it."""
    parts = []
    for role in ("metadata", "image"):
        columns = {f"{role}_{field}": field for field in FIELDS}
        part = nft[list(columns)].rename(columns=columns).assign(role=role, named_by=nft["entity_id"])
        parts.append(part[present(part["cid"]) & ~isin(part["read"], ["refused", "none"])])
    objects = pd.concat(parts, ignore_index=True)
    objects["path"] = omap(objects["path"], lambda p: p if isinstance(p, str) else "")
    objects["cid"] = objects["cid"].astype("object")
    if objects.empty:
        return objects.assign(entity_id=pd.Series(dtype="object"))
    named = objects.groupby(["cid", "path"])["named_by"].agg(lambda ids: sorted(set(map(str, ids)))[:MAX_NAMED_BY])
    objects = (
        objects.drop(columns="named_by")
        .drop_duplicates(["cid", "path"])
        .merge(named.reset_index(), on=["cid", "path"], how="left")
    )
    objects["entity_id"] = objects["cid"] + objects["path"]
    objects["gateway_statuses"] = omap(objects["gateway_statuses"], _statuses)
    return objects.sort_values(["cid", "path"], kind="stable").reset_index(drop=True)


def check_ipfs_cid_integrity(objects: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A gateway served bytes that do not hash to the CID (mark that gateway bad)."""
    integrity = objects["gateways_integrity"].fillna(0)
    unknown = (integrity == 0) & (objects["gateways_unreadable"].fillna(0) > 0)
    bad = objects["gateway_statuses"].map(lambda s: sorted(g for g, v in (s or {}).items() if v == "integrity"))
    rows = objects.assign(bad_gateways=bad)
    return emit_verdict(
        "IPFS_CID_INTEGRITY",
        rows,
        Verdict.of(integrity > 0, unknown),
        details=["role", "bad_gateways", "gateway_statuses", "named_by"],
        reason=unread_reason(objects),
    )


def check_ipfs_not_pinned(objects: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A CID the NFTs use is not in the Pinata pin list (judged per CID, whatever the sub-path)."""
    by_cid = objects.drop_duplicates("cid")
    verdict = Verdict.of(flag(by_cid["pin"], "not_pinned"), flag(by_cid["pin"], "unavailable"))
    return emit_verdict(
        "IPFS_NOT_PINNED",
        by_cid,
        verdict,
        details=["role", "named_by"],
        reason="pinata pin list unreadable",
        entity="cid",
    )


def check_ipfs_propagation_partial(objects: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Served by fewer than k (``settings.ipfs.min_gateways``) of the configured gateways."""
    k = min(settings.ipfs.min_gateways, len(settings.ipfs.gateways))
    ok, unread = objects["gateways_ok"].fillna(0), objects["gateways_unreadable"].fillna(0)
    fail = (ok >= 1) & (ok + unread < k)
    unknown = ((ok >= 1) & (ok < k) & (ok + unread >= k)) | ((ok == 0) & (unread > 0))
    rows = objects.assign(min_gateways=k)
    reason = "gateways that could not be read may hold it; " + unread_reason(objects)
    return emit_verdict(
        "IPFS_PROPAGATION_PARTIAL",
        rows,
        Verdict.of(fail, unknown),
        details=["role", "gateways_ok", "min_gateways", "gateway_statuses", "named_by"],
        reason=reason,
    )
