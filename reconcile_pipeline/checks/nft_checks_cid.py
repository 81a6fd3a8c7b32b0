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
from .nft_join_keys import omap

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


def _named_by(uses: pd.DataFrame) -> pd.DataFrame:
    """``cid``, ``path`` and ``named_by``: the first MAX_NAMED_BY distinct entity ids naming each object, sorted.

    An object only one NFT names holds that NFT's id; :func:`_judged` makes it a list for the rows judged.
    """
    uses = uses.assign(named_by=uses["named_by"].astype(str)).drop_duplicates()
    shared = uses.duplicated(["cid", "path"], keep=False)
    single = uses[~shared].astype({"named_by": "object"})
    if not shared.any():
        return single
    uses = uses[shared].sort_values(["cid", "path", "named_by"], kind="stable")
    uses = uses[uses.groupby(["cid", "path"], sort=False).cumcount() < MAX_NAMED_BY]
    lists = uses.groupby(["cid", "path"], sort=False)["named_by"].agg(list).reset_index()
    return pd.concat([single, lists], ignore_index=True)


def cid_objects(nft: pd.DataFrame) -> pd.DataFrame:
    """One row per (cid, path) used by an NFT: read status, per-gateway counts, pin, and the NFTs naming it."""
    parts = []
    for role in ("metadata", "image"):
        columns = {f"{role}_{field}": field for field in FIELDS}
        part = nft[list(columns)].rename(columns=columns).assign(role=role, named_by=nft["entity_id"])
        parts.append(part[present(part["cid"]) & ~isin(part["read"], ["refused", "none"])])
    objects = pd.concat(parts, ignore_index=True)
    kind = "str" if isinstance(objects["cid"].dtype, pd.StringDtype) else "object"
    objects["path"] = omap(objects["path"], lambda p: p if isinstance(p, str) else "").astype(kind)
    objects["cid"] = objects["cid"].astype(kind)
    if objects.empty:
        return objects.assign(entity_id=pd.Series(dtype="object"))
    named = _named_by(objects[["cid", "path", "named_by"]])
    objects = (
        objects.drop(columns="named_by").drop_duplicates(["cid", "path"]).merge(named, on=["cid", "path"], how="left")
    )
    objects["entity_id"] = objects["cid"] + objects["path"]
    objects["gateway_statuses"] = omap(objects["gateway_statuses"], _statuses)
    return objects.sort_values(["cid", "path"], kind="stable").reset_index(drop=True)


def _judged(objects: pd.DataFrame, verdict: Verdict) -> tuple[pd.DataFrame, Verdict]:
    """Only the rows a verdict names (the details are built for them alone), ``named_by`` as lists."""
    named = verdict.fail | verdict.unknown
    rows = objects[named]
    rows = rows.assign(named_by=[names if isinstance(names, list) else [names] for names in rows["named_by"]])
    return rows, Verdict(verdict.fail[named], verdict.unknown[named])


def check_ipfs_cid_integrity(objects: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A gateway served bytes that do not hash to the CID (mark that gateway bad)."""
    integrity = objects["gateways_integrity"].fillna(0)
    unknown = (integrity == 0) & (objects["gateways_unreadable"].fillna(0) > 0)
    rows, verdict = _judged(objects, Verdict.of(integrity > 0, unknown))
    bad = rows["gateway_statuses"].map(lambda s: sorted(g for g, v in (s or {}).items() if v == "integrity"))
    return emit_verdict(
        "IPFS_CID_INTEGRITY",
        rows.assign(bad_gateways=bad),
        verdict,
        details=["role", "bad_gateways", "gateway_statuses", "named_by"],
        reason=unread_reason(rows),
    )


def check_ipfs_not_pinned(objects: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A CID the NFTs use is not in the Pinata pin list (judged per CID, whatever the sub-path)."""
    by_cid = objects.drop_duplicates("cid")
    by_cid, verdict = _judged(by_cid, Verdict.of(flag(by_cid["pin"], "not_pinned"), flag(by_cid["pin"], "unavailable")))
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
    rows, verdict = _judged(objects.assign(min_gateways=k), Verdict.of(fail, unknown))
    reason = "gateways that could not be read may hold it; " + unread_reason(rows)
    return emit_verdict(
        "IPFS_PROPAGATION_PARTIAL",
        rows,
        verdict,
        details=["role", "gateways_ok", "min_gateways", "gateway_statuses", "named_by"],
        reason=reason,
    )
