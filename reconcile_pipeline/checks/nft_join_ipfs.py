"""IPFS side of the NFT join (pure, no I/O): the objects a snapshot read, found for a column of URIs.

- :func:`attach_objects` finds, for a column of URIs, the ``ipfs_objects`` row the snapshot read for it
  (matched by the row's ``uris`` list, then by canonical reference) and adds its read status, hashes and
  per-gateway counts under a prefix. A URI the snapshot did not read is ``unavailable`` (unknown).
- URI references and keys: :mod:`.nft_join_keys` (:func:`ref_key`, :func:`same_reference`, ...);
  metadata documents: :mod:`.nft_join_metadata` (:func:`parse_metadata`). Both are re-exported here.

Every lookup is a vectorized index lookup; JSON and CID parsing run once per distinct value.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .nft_join_keys import arrow_texts, cid_key, cid_keys, nonblank, omap, ref_key, ref_keys, same_reference, v1_of_key
from .nft_join_metadata import METADATA_FIELDS, attach_metadata_fields, parse_metadata

__all__ = [
    "METADATA_FIELDS",
    "attach_metadata_fields",
    "attach_objects",
    "cid_key",
    "omap",
    "parse_metadata",
    "ref_key",
    "same_reference",
]

UNREADABLE_GATEWAY = "unavailable"
OBJECT_FIELDS = ["cid", "path", "read", "error", "sha256", "size", "content_text", "gateway_statuses"]
COUNT_FIELDS = ["gateways_ok", "gateways_unreadable", "gateways_integrity"]


def _gateway_counts(statuses: object, gateways: int) -> tuple[int, int, int]:
    """(ok, unreadable, integrity) from a snapshot's JSON ``gateway -> status``; nothing read: all unreadable."""
    try:
        parsed = json.loads(statuses) if isinstance(statuses, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not parsed:
        return 0, gateways, 0
    values = list(parsed.values())
    return values.count("ok"), values.count(UNREADABLE_GATEWAY), values.count("integrity")


def _counts(statuses: pd.Series, read: pd.Series, gateways: int) -> pd.DataFrame:
    """Per row, the gateway counts (parsed once per distinct statuses text); none for unread or refused rows."""
    codes, uniques = pd.factorize(statuses, use_na_sentinel=True)
    table = np.array([_gateway_counts(value, gateways) for value in [*uniques, None]], dtype="int64")
    counts = table[codes]  # code -1 (NA) takes the last row: nothing read
    counts[read.isin(["none", "refused"]).to_numpy()] = 0
    return pd.DataFrame(counts, index=statuses.index, columns=COUNT_FIELDS)


def _lookup(index_values: pd.Series, positions: pd.Index, wanted: pd.Series) -> np.ndarray:
    """For each wanted value, the position of its first match in ``index_values`` (-1 if none)."""
    same = isinstance(index_values.dtype, pd.StringDtype) and isinstance(wanted.dtype, pd.StringDtype)
    kind = "str" if same else "object"
    found = pd.Index(index_values.astype(kind)).get_indexer(wanted.astype(kind))
    rows = np.append(positions.to_numpy(), -1)  # found == -1 picks the -1 appended
    return rows[found]


def _by_uri(table: pd.DataFrame, priority: pd.Series, uris: pd.Series) -> np.ndarray:
    """Row of the object whose ``uris`` list holds each URI (rows of the wanted role first), -1 if none."""
    listed = table[["uris"]].assign(_priority=priority).explode("uris").dropna(subset=["uris"])
    listed = listed.sort_values("_priority", kind="stable").drop_duplicates("uris")
    texts = arrow_texts(uris)
    wanted = texts if texts is not None else uris.where(omap(uris, lambda u: isinstance(u, str)).astype(bool), None)
    return _lookup(listed["uris"].astype(str), listed.index, wanted)


def _by_key(table: pd.DataFrame, priority: pd.Series, keys: pd.Series) -> np.ndarray:
    """Row of the object whose canonical ``cid + path`` is each key, -1 if none."""
    paths = table["path"].astype("object")
    paths = paths.where(omap(paths, lambda p: isinstance(p, str)).astype(bool), "")
    own = pd.DataFrame({"key": cid_keys(table["cid"]) + paths, "_priority": priority})
    own = own.dropna(subset=["key"]).sort_values("_priority", kind="stable").drop_duplicates("key")
    return _lookup(own["key"], own.index, keys)


def _found(table: pd.DataFrame, role: str, uris: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Object row per URI (-1: the snapshot did not read it) and the URIs' canonical keys (None: no IPFS ref)."""
    priority = (table["role"] != role).astype(int)
    found = _by_uri(table, priority, uris)
    keys = pd.Series(None, index=uris.index, dtype="object")
    rest = found < 0
    if rest.any():
        keys[rest] = ref_keys(uris[rest])
        by_key = rest & keys.notna().to_numpy()
        if by_key.any():
            found[by_key] = _by_key(table, priority, keys[by_key])
    return found, keys


def attach_objects(
    rows: pd.DataFrame,
    objects: pd.DataFrame,
    uri_column: str,
    prefix: str,
    *,
    role: str,
    gateways: int,
    unread_reason: str,
) -> pd.DataFrame:
    """Add ``{prefix}_{cid,path,read,error,sha256,size,content_text,gateway_statuses,gateways_*}`` for each URI."""
    uris = rows[uri_column]
    table = objects.reset_index(drop=True).rename(columns={"status": "read"})
    found, keys = _found(table, role, uris)
    picked = table[OBJECT_FIELDS].reindex(found).set_axis(rows.index)
    hit = pd.Series(found >= 0, index=rows.index)
    has_uri = nonblank(uris, keys.where(~hit, "found"))
    unread = has_uri & ~hit
    picked["read"] = picked["read"].astype("object").where(hit, None)
    picked.loc[unread, "read"] = UNREADABLE_GATEWAY
    picked.loc[unread, "error"] = unread_reason
    picked.loc[~has_uri, "read"] = "none"
    if not isinstance(picked["cid"].dtype, pd.StringDtype):
        picked["cid"] = picked["cid"].astype("object").where(picked["cid"].notna(), None)
    if unread.any():
        picked.loc[unread, "cid"] = omap(keys[unread], v1_of_key)
    picked[COUNT_FIELDS] = _counts(picked["gateway_statuses"], picked["read"], gateways)
    return rows.join(picked.add_prefix(f"{prefix}_"))
