"""Bounded JSON parsing for untrusted documents (IPFS metadata, API answers): never more than asked for.

:func:`loads_bounded` parses JSON text or bytes and raises :class:`~.layers.errors.DecodeError`
(naming the layer and where) instead of anything else when the document is:

- larger than ``max_bytes`` (checked before parsing);
- not valid UTF-8 (bytes; the offset of the first bad byte is named) — RFC 8259 requires UTF-8;
- nested deeper than ``max_depth`` (a linear pre-scan: a bracket bomb never reaches the parser,
  so no RecursionError);
- not JSON, or holding ``NaN``/``Infinity`` (not JSON either) or an integer too long to convert;
- holding a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON syntax but no Unicode text: it
  could not be stored in Parquet or a database later).

:func:`nesting_depth_exceeds` is the pre-scan on its own. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .layers.errors import DecodeError

__all__ = ["DEFAULT_MAX_DEPTH", "loads_bounded", "nesting_depth_exceeds"]

DEFAULT_MAX_DEPTH = 64
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def nesting_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True if brackets outside JSON strings nest deeper than ``limit`` (a lazy scan that stops early)."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token[0] == 0x22:  # a string: brackets inside it do not count
            continue
        depth += 1 if token in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _as_bytes(data: bytes | bytearray | str, error: Any) -> bytes:
    if not isinstance(data, str):
        return bytes(data)
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(f"text holds a lone surrogate at character {exc.start}") from None


def loads_bounded(
    data: bytes | bytearray | str,
    *,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    layer: str = "",
    where: str = "",
) -> Any:
    """Parse one JSON document within the bounds above; any defect is a DecodeError."""

    def error(message: str) -> DecodeError:
        return DecodeError(message, layer=layer, where=where)

    raw = _as_bytes(data, error)
    if len(raw) > max_bytes:
        raise error(f"JSON is {len(raw)} bytes, over the {max_bytes}-byte cap")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"JSON is not valid UTF-8 (bad byte at offset {exc.start})") from None
    if nesting_depth_exceeds(raw, max_depth):
        raise error(f"JSON nests deeper than {max_depth} levels")
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # pragma: no cover - the pre-scan keeps the depth far below the limit
        raise error("JSON nests too deeply") from None
    except ValueError as exc:
        raise error(f"not JSON: {str(exc)[:160]}") from None
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise error("JSON string holds a lone surrogate (an unpaired \\ud800-\\udfff escape)") from None
    return document
