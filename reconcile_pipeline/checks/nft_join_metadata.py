"""Metadata documents of the NFT join (pure): ``json_parsed``, ``json_error``, ``json_name/image/level``.

:func:`parse_metadata` checks one document: a JSON object, ``name``, ``image`` and a ``Level`` attribute;
bombs (deep nesting, oversized text) become a ``json_error``, never an exception.
:func:`attach_metadata_fields` does it for a column. The documents our minter writes have one compact
shape; a document that matches that shape *exactly* (:data:`CANONICAL`: those keys in that order, no
escapes, no control characters, within the byte cap) is valid JSON whose fields are the captured texts,
so its fields are taken by one vectorized regex (Arrow/RE2). Every other document is parsed by
:func:`parse_metadata`, once per distinct text.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .nft_join_keys import arrow_texts, omap

METADATA_FIELDS = ["json_parsed", "json_error", "json_name", "json_image", "json_level"]
_CHARS = r'[^"\\\x00-\x1f]*'  # a JSON string literal's body without escapes or control characters
_VISIBLE = r"[!#-\[\]-~]"  # a visible ASCII character: the text is not blank
CANONICAL = (
    rf'^\{{"name":"(?P<name>{_CHARS})","symbol":"{_CHARS}","description":"{_CHARS}","image":"(?P<image>{_CHARS})",'
    rf'"attributes":\[\{{"trait_type":"Level","value":"(?P<level>{_CHARS})"\}}\],'
    rf'"properties":\{{"files":\[\{{"uri":"{_CHARS}","type":"{_CHARS}"\}}\],"category":"{_CHARS}"\}}\}}$'
)


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


def _canonical_fields(texts: pd.Series, max_bytes: int) -> pd.DataFrame:
    """``name``/``image``/``level`` of the documents of the canonical shape within the byte cap (NA elsewhere)."""
    arrow = arrow_texts(texts)
    if arrow is None:
        return pd.DataFrame({"name": pd.Series(pd.NA, index=texts.index, dtype="str")})
    array = arrow.array.__arrow_array__()
    matched = pc.extract_regex(array, CANONICAL)
    fast = pc.fill_null(pc.less_equal(pc.binary_length(array), max_bytes), False)
    fields = {name: pc.struct_field(matched, name) for name in ("name", "image", "level")}
    for values in fields.values():  # a blank text is no field: those documents take the exact path
        fast = pc.and_(fast, pc.fill_null(pc.match_substring_regex(values, _VISIBLE), False))
    none = pa.scalar(None, pa.string())
    return pd.DataFrame(
        {
            name: pd.Series(pc.if_else(fast, values, none)).set_axis(texts.index).astype("str")
            for name, values in fields.items()
        }
    )


def _parsed(texts: pd.Series, max_bytes: int) -> pd.DataFrame:
    """:func:`parse_metadata` of each text, once per distinct text."""
    documents = omap(texts, lambda text: parse_metadata(text, max_bytes))
    return pd.DataFrame(documents.tolist(), index=texts.index, columns=METADATA_FIELDS)


def metadata_fields(texts: pd.Series, readable: pd.Series, max_bytes: int) -> pd.DataFrame:
    """The METADATA_FIELDS of each readable text (unreadable rows: not parsed, no fields)."""
    canonical = _canonical_fields(texts, max_bytes)
    fast = readable & canonical["name"].notna()
    fields = pd.DataFrame(
        {
            "json_parsed": fast.to_numpy(),
            "json_error": None,
            **{
                f"json_{name}": canonical.get(name, canonical["name"]).where(fast)
                for name in ("name", "image", "level")
            },
        },
        index=texts.index,
    )
    slow = readable & ~fast
    if slow.any():
        parsed = _parsed(texts[slow], max_bytes)
        for column in METADATA_FIELDS:
            fields[column] = fields[column].astype("object")
            fields.loc[slow, column] = parsed[column]
    return fields


def attach_metadata_fields(rows: pd.DataFrame, max_bytes: int) -> pd.DataFrame:
    """Parse each readable metadata object's JSON text (rows whose metadata is not ``ok`` get nothing)."""
    readable = (rows["metadata_read"] == "ok").fillna(False).astype(bool)
    fields = metadata_fields(rows["metadata_content_text"], readable, max_bytes)
    too_large = (rows["metadata_read"] == "invalid") & (rows["metadata_gateways_integrity"] == 0)
    fields["json_error"] = fields["json_error"].astype("object")
    fields.loc[too_large, "json_error"] = "over the byte cap on every gateway that answered"
    fields["json_parsed"] = fields["json_parsed"].fillna(False).astype(bool)
    return rows.drop(columns=["metadata_content_text"]).join(fields)
