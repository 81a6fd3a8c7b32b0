"""IPFS side of the NFT join (pure, no I/O): URI references, the objects a snapshot read, metadata JSON.

- :func:`ref_key` names the object a URI points at in one canonical spelling (CIDv1 + path), so
  ``ipfs://Qm…``, ``https://gateway.pinata.cloud/ipfs/Qm…`` and ``ipfs://bafy…`` of the same DAG compare equal;
  :func:`same_reference` compares two URI columns that way (raw text where a URI is no IPFS reference).
- :func:`attach_objects` finds, for a column of URIs, the ``ipfs_objects`` row the snapshot read for it
  (matched by the row's ``uris`` list, then by canonical reference) and adds its read status, hashes and
  per-gateway counts under a prefix. A URI the snapshot did not read is ``unavailable`` (unknown).
- :func:`parse_metadata` checks a metadata document: JSON object, ``name``, ``image`` and a ``Level``
  attribute; bombs (deep nesting, oversized text) become a ``json_error``, never an exception.
"""

from __future__ import annotations

import json

import pandas as pd

from ..layers.cid import parse_cid, parse_ipfs_uri
from ..layers.errors import DecodeError

UNREADABLE_GATEWAY = "unavailable"
OBJECT_FIELDS = ["cid", "path", "read", "error", "sha256", "size", "content_text", "gateway_statuses"]
COUNT_FIELDS = ["gateways_ok", "gateways_unreadable", "gateways_integrity"]
METADATA_FIELDS = ["json_parsed", "json_error", "json_name", "json_image", "json_level"]


def omap(series: pd.Series, function) -> pd.Series:
    """``function`` over the values as plain Python objects (NA -> None), into an object Series."""
    values = [None if _is_na(v) else v for v in series.astype("object")]
    return pd.Series([function(v) for v in values], index=series.index, dtype="object")


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def cid_key(text: object) -> str | None:
    """A CID in its CIDv1 spelling (None if ``text`` is not a CID)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return str(parse_cid(text.strip()).to_v1())
    except DecodeError:
        return None


def ref_key(uri: object) -> str | None:
    """``CIDv1 + path`` of the object an IPFS URI names, in any of its forms; None for other URIs."""
    if not isinstance(uri, str) or not uri.strip():
        return None
    try:
        ref = parse_ipfs_uri(uri.strip())
    except DecodeError:
        return None
    if ref is None:
        return None
    cid, path = ref
    return f"{cid.to_v1()}{path}"


def _comparable(uris: pd.Series) -> pd.Series:
    keys = omap(uris, ref_key)
    raw = omap(uris, lambda u: u.strip() if isinstance(u, str) and u.strip() else None)
    return keys.where(keys.notna(), raw)


def same_reference(left: pd.Series, right: pd.Series) -> pd.Series:
    """True where both URIs name the same object (both empty counts as the same)."""
    a, b = _comparable(left), _comparable(right)
    return (a == b).fillna(False).astype(bool) | (a.isna() & b.isna())


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


def _object_table(objects: pd.DataFrame, role: str) -> tuple[pd.DataFrame, dict, dict]:
    """The objects (RangeIndex) and lookups uri -> row and canonical reference -> row, rows of ``role`` first."""
    table = objects.reset_index(drop=True)
    priority = (table["role"] != role).astype(int)
    by_uri = table[["uris"]].assign(_priority=priority).explode("uris").dropna(subset=["uris"])
    by_uri = by_uri.sort_values("_priority", kind="stable").drop_duplicates("uris")
    uri_rows = dict(zip(by_uri["uris"].astype(str), by_uri.index, strict=True))
    paths = omap(table["path"], lambda p: p if isinstance(p, str) else "")
    cids = omap(table["cid"], cid_key)
    keys = pd.DataFrame({"key": cids + paths, "_priority": priority})
    keys = keys.dropna(subset=["key"]).sort_values("_priority", kind="stable").drop_duplicates("key")
    key_rows = dict(zip(keys["key"], keys.index, strict=True))
    return table.rename(columns={"status": "read"}), uri_rows, key_rows


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
    table, uri_rows, key_rows = _object_table(objects, role)
    found = omap(uris, lambda u: uri_rows.get(u) if isinstance(u, str) else None)
    keys = omap(uris, ref_key)
    by_key = omap(keys, lambda k: key_rows.get(k) if k else None)
    found = found.where(found.notna(), by_key)
    positions = found.fillna(-1).astype(int).to_numpy()
    picked = table.reindex(positions)[OBJECT_FIELDS].set_axis(rows.index)
    has_uri = omap(uris, lambda u: isinstance(u, str) and bool(u.strip())).astype(bool)
    unread = has_uri & found.isna()
    picked["read"] = picked["read"].astype("object").where(found.notna(), None)
    picked.loc[unread, "read"] = UNREADABLE_GATEWAY
    picked.loc[unread, "error"] = unread_reason
    picked.loc[~has_uri, "read"] = "none"
    fallback_cid = omap(keys, lambda k: k.split("/", 1)[0] if k else None)
    picked["cid"] = picked["cid"].astype("object").where(picked["cid"].notna(), fallback_cid.where(unread, None))
    counts = [
        _gateway_counts(s, gateways) if read not in ("none", "refused") else (0, 0, 0)
        for s, read in zip(picked["gateway_statuses"], picked["read"], strict=True)
    ]
    picked[COUNT_FIELDS] = pd.DataFrame(counts, index=rows.index, columns=COUNT_FIELDS)
    return rows.join(picked.add_prefix(f"{prefix}_"))


def _level_of(attributes: object) -> object:
    if not isinstance(attributes, list):
        return None
    for item in attributes:
        if isinstance(item, dict) and item.get("trait_type") == "Level":
            return item.get("value")
    return None


def _text(value: object) -> str | None:
    """A non-empty string that is valid Unicode (JSON allows lone surrogates such as "\\ud800"), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def parse_metadata(text: object, max_bytes: int) -> dict:
    """``json_parsed``, ``json_error`` (None when valid), ``json_name``, ``json_image``, ``json_level``."""
    out = dict.fromkeys(METADATA_FIELDS)
    out["json_parsed"] = False
    if not isinstance(text, str):
        out["json_error"] = "no JSON text (larger than the JSON byte cap, or not read)"
        return out
    if len(text.encode("utf-8", errors="replace")) > max_bytes:
        out["json_error"] = f"larger than the JSON byte cap ({max_bytes} bytes)"
        return out
    try:
        document = json.loads(text)
    except RecursionError:
        out["json_error"] = "not JSON: nested too deeply"
        return out
    except ValueError as exc:
        out["json_error"] = f"not JSON: {str(exc)[:120]}"
        return out
    if not isinstance(document, dict):
        out["json_error"] = f"not a JSON object ({type(document).__name__})"
        return out
    out["json_parsed"] = True
    name, image, level = document.get("name"), document.get("image"), _level_of(document.get("attributes"))
    out["json_name"], out["json_image"], out["json_level"] = _text(name), _text(image), _text(level)
    missing = [
        label
        for label, value in (
            ("name", out["json_name"]),
            ("image", out["json_image"]),
            ("attributes[Level]", out["json_level"]),
        )
        if value is None
    ]
    if missing:
        out["json_error"] = f"required field missing or not text: {', '.join(missing)}"
    return out


def attach_metadata_fields(rows: pd.DataFrame, max_bytes: int) -> pd.DataFrame:
    """Parse each readable metadata object's JSON text (rows whose metadata is not ``ok`` get nothing)."""
    readable = rows["metadata_read"] == "ok"
    parsed = [
        parse_metadata(text, max_bytes) if ok else dict.fromkeys(METADATA_FIELDS)
        for text, ok in zip(rows["metadata_content_text"], readable, strict=True)
    ]
    fields = pd.DataFrame(parsed, index=rows.index, columns=METADATA_FIELDS)
    too_large = (rows["metadata_read"] == "invalid") & (rows["metadata_gateways_integrity"] == 0)
    fields.loc[too_large, "json_error"] = "over the byte cap on every gateway that answered"
    fields["json_parsed"] = fields["json_parsed"].fillna(False).astype(bool)
    return rows.drop(columns=["metadata_content_text"]).join(fields)
