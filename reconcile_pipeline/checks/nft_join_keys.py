"""Canonical keys of CIDs and IPFS URIs over whole columns, for the NFT join (pure, vectorized).

Two spellings of one object must meet: ``ipfs://Qm…``, ``https://gateway.pinata.cloud/ipfs/Qm…`` and
``ipfs://bafy…`` of the same DAG. The scalar :func:`cid_key` / :func:`ref_key` name a CID by its CIDv1 text
(the repairs use them one value at a time). Over a column, :func:`cid_keys` / :func:`ref_keys` use the
*object key* instead: the CIDv0 text when the CID has a v0 form (dag-pb, sha2-256), else its CIDv1 text
(one object, one key, as with CIDv1). A well-formed CIDv0 is recognised without decoding it: 46 base58
characters between the smallest and the largest sha2-256 multihash, compared as text (the base58
alphabet is in ASCII order, so equal-length texts compare as their numbers). Every other value is parsed
by :mod:`..layers.cid`, once per distinct value (:func:`omap`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..layers.cid import CID, DAG_PB, parse_cid, parse_ipfs_uri
from ..layers.errors import DecodeError
from ..layers.multibase import encode_base58btc

_V0 = r"Qm[1-9A-HJ-NP-Za-km-z]{44}"
_V0_LOW = encode_base58btc(b"\x12\x20" + bytes(32))
_V0_HIGH = encode_base58btc(b"\x12\x20" + b"\xff" * 32)
_V0_URI = rf"^(?:ipfs://|https://gateway\.pinata\.cloud/ipfs/)(?P<cid>{_V0})$"


def omap(series: pd.Series, function) -> pd.Series:
    """``function`` over the values as plain Python objects (NA -> None), called once per distinct value."""
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists): row by row
        values = [function(None if _is_na(v) else v) for v in series.astype("object")]
        return pd.Series(values, index=series.index, dtype="object")
    mapped = np.empty(len(uniques) + 1, dtype=object)
    for position, value in enumerate(uniques):
        mapped[position] = function(None if _is_na(value) else value)
    mapped[-1] = function(None)
    return pd.Series(mapped[codes], index=series.index, dtype="object")


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _parsed_cid(text: object) -> CID | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_cid(text.strip())
    except DecodeError:
        return None


def _parsed_ref(uri: object) -> tuple[CID, str] | None:
    if not isinstance(uri, str) or not uri.strip():
        return None
    try:
        return parse_ipfs_uri(uri.strip())
    except DecodeError:
        return None


def cid_key(text: object) -> str | None:
    """A CID in its CIDv1 spelling (None if ``text`` is not a CID)."""
    cid = _parsed_cid(text)
    return None if cid is None else str(cid.to_v1())


def ref_key(uri: object) -> str | None:
    """``CIDv1 + path`` of the object an IPFS URI names, in any of its forms; None for other URIs."""
    ref = _parsed_ref(uri)
    return None if ref is None else f"{ref[0].to_v1()}{ref[1]}"


def object_cid(cid: CID) -> str:
    """The CID's object key: its v0 text when it has one, else its v1 text."""
    multihash = cid.multihash
    if cid.codec == DAG_PB and len(multihash) == 34 and multihash[:2] == b"\x12\x20":
        return encode_base58btc(multihash)
    return str(cid.to_v1())


def _slow_cid(text: object) -> str | None:
    cid = _parsed_cid(text)
    return None if cid is None else object_cid(cid)


def _slow_ref(uri: object) -> str | None:
    ref = _parsed_ref(uri)
    return None if ref is None else object_cid(ref[0]) + ref[1]


def arrow_texts(series: pd.Series) -> pd.Series | None:
    """The column as Arrow-backed strings when every value is a string or NA (None otherwise)."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        return series
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        return None
    try:
        return series.astype("str")
    except (UnicodeError, ValueError, TypeError):  # e.g. lone surrogates: no Arrow form
        return None


def one_chunk(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with each named Arrow-backed string column in one chunk (a Parquet read hands them over in
    batches; a random take, as a join does, over many chunks costs several times one over a single chunk)."""
    combined = {}
    for column in columns:
        series = frame[column]
        if not (isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"):
            continue
        chunks = series.array.__arrow_array__()
        if chunks.num_chunks > 1:
            single = pa.chunked_array([chunks.combine_chunks()])
            combined[column] = pd.Series(single, index=series.index, dtype=series.dtype, name=column)
    return frame.assign(**combined) if combined else frame


def _texts(series: pd.Series) -> pd.Series:
    """:func:`arrow_texts`, or all NA (every value then takes the slow path)."""
    texts = arrow_texts(series)
    return pd.Series(pd.NA, index=series.index, dtype="str") if texts is None else texts


def _valid_v0(candidates: pd.Series) -> pd.Series:
    """Where the text is a well-formed CIDv0 (a sha2-256 multihash in base58btc), by text comparison only."""
    shaped = candidates.str.fullmatch(_V0).fillna(False).astype(bool)
    in_range = ((candidates >= _V0_LOW) & (candidates <= _V0_HIGH)).fillna(False).astype(bool)
    return shaped & in_range


def _fill(keys: pd.Series, series: pd.Series, function) -> pd.Series:
    """``keys`` (object, None for NA) with ``function`` of ``series`` where the key is missing and the value is not."""
    values = keys.astype("object").to_numpy(copy=True)
    missing = pd.isna(values)
    values[missing] = None
    rest = missing & series.notna().to_numpy()
    if rest.any():
        values[rest] = omap(series[rest], function).to_numpy()
    return pd.Series(values, index=keys.index, dtype="object")


def cid_keys(series: pd.Series) -> pd.Series:
    """The object key of each CID text (None where it is no CID)."""
    texts = _texts(series)
    fast = texts.where(_valid_v0(texts))
    return _fill(fast, series, _slow_cid)


def _extract_v0(texts: pd.Series) -> pd.Series:
    """The CIDv0 of each plain ``ipfs://`` or Pinata-gateway URI (no path, query or fragment), else NA."""
    matched = pc.extract_regex(texts.array.__arrow_array__(), _V0_URI)
    return pd.Series(pc.struct_field(matched, "cid"), index=texts.index).astype("str")


def ref_keys(uris: pd.Series) -> pd.Series:
    """The object key + path each IPFS URI names (None for other URIs)."""
    texts = _texts(uris)
    cids = _extract_v0(texts)
    fast = cids.where(_valid_v0(cids))
    return _fill(fast, uris, _slow_ref)


def v1_of_key(key: object) -> str | None:
    """The CIDv1 text of an object key's CID (its path dropped)."""
    if not isinstance(key, str) or not key:
        return None
    return str(parse_cid(key.split("/", 1)[0]).to_v1())


def nonblank(series: pd.Series, keys: pd.Series) -> pd.Series:
    """Where the value is text that is not blank (rows with a key are)."""
    flags = _fill(keys.notna().where(keys.notna(), None), series, lambda v: isinstance(v, str) and bool(v.strip()))
    return flags.fillna(False).astype(bool)


def _comparable(uris: pd.Series) -> pd.Series:
    return _fill(ref_keys(uris), uris, lambda u: u.strip() if isinstance(u, str) and u.strip() else None)


def same_reference(left: pd.Series, right: pd.Series) -> pd.Series:
    """True where both URIs name the same object (both empty counts as the same); equal texts need no keys."""
    same = pd.Series((left == right).fillna(False).astype(bool).to_numpy(), index=left.index)  # same text
    rest = ~same
    if rest.any():
        a, b = _comparable(left[rest]), _comparable(right[rest])
        same[rest] = (a == b).fillna(False).astype(bool) | (a.isna() & b.isna())
    return same
