"""Multiformats encodings: unsigned varints, multihash framing, multibase and base58btc (pure, no I/O).

Used by :mod:`reconcile_pipeline.layers.cid` (CID bytes and text), :mod:`~reconcile_pipeline.layers.unixfs`
(protobuf varints) and the local Solana node (base58). Decoding is strict: only the canonical
spelling of some bytes is accepted, and every defect raises :class:`MultiformatError`, a
``ValueError`` that callers turn into a :class:`DecodeError` naming what and where.
"""

from __future__ import annotations

import base64
import binascii

__all__ = [
    "MultiformatError",
    "decode_base58btc",
    "decode_multibase",
    "encode_base58btc",
    "encode_multibase",
    "encode_varint",
    "read_varint",
    "split_multihash",
]


class MultiformatError(ValueError):
    """What is wrong with an encoded value; callers turn it into DecodeError with a `where`."""


# -- unsigned varints -----------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 (multiformats unsigned-varint, protobuf varint) of a non-negative int."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the unsigned LEB128 at `pos`: minimal form, at most 9 bytes."""
    value = shift = 0
    for i in range(9):
        if pos + i >= len(data):
            raise MultiformatError("truncated varint")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise MultiformatError("non-minimal varint")
            return value, pos + i + 1
    raise MultiformatError("varint longer than 9 bytes")


# -- multihash framing ---------------------------------------------------------------------------

_KNOWN_DIGEST_LENGTHS = {0x12: 32, 0x13: 64, 0x16: 32, 0x14: 64, 0xB220: 32}  # sha2-256/512, sha3, blake2b-256


def split_multihash(multihash: bytes) -> tuple[int, bytes]:
    """(hash code, digest) of ``varint(code) varint(length) digest``; the length must match exactly."""
    code, pos = read_varint(multihash, 0)
    length, pos = read_varint(multihash, pos)
    digest = multihash[pos:]
    if len(digest) != length:
        raise MultiformatError(f"multihash declares {length} digest bytes, has {len(digest)}")
    expected = _KNOWN_DIGEST_LENGTHS.get(code)
    if expected is not None and length != expected:
        raise MultiformatError(f"digest of hash 0x{code:x} must be {expected} bytes, not {length}")
    return code, digest


# -- bases ----------------------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _encode_radix(data: bytes, alphabet: str) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, len(alphabet))
        digits.append(alphabet[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return alphabet[0] * zeros + "".join(reversed(digits))


def _decode_radix(text: str, alphabet: str) -> bytes:
    number = 0
    for char in text:
        index = alphabet.find(char) if char.isascii() else -1
        if index < 0:
            raise MultiformatError(f"bad character {char!r}")
        number = number * len(alphabet) + index
    zeros = len(text) - len(text.lstrip(alphabet[0]))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def encode_base58btc(data: bytes) -> str:
    """Bitcoin base58 of `data` (no multibase prefix): CIDv0 text, Solana keys and signatures."""
    return _encode_radix(data, _B58)


def decode_base58btc(text: str) -> bytes:
    """Bytes of bitcoin base58 text (no multibase prefix); MultiformatError for a character outside it."""
    return _decode_radix(text, _B58)


def _b32_encode(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _b32_decode(text: str) -> bytes:
    if not text.isascii() or "=" in text:
        raise MultiformatError("bad base32 character")
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


_ENCODERS = {
    "b": _b32_encode,
    "B": lambda data: _b32_encode(data).upper(),
    "z": encode_base58btc,
    "k": lambda data: _encode_radix(data, _B36),
    "K": lambda data: _encode_radix(data, _B36).upper(),
    "f": lambda data: data.hex(),
    "F": lambda data: data.hex().upper(),
}
_DECODERS = {
    "b": _b32_decode,
    "B": _b32_decode,
    "z": decode_base58btc,
    "k": lambda text: _decode_radix(text, _B36),
    "K": lambda text: _decode_radix(text.lower(), _B36),
    "f": bytes.fromhex,
    "F": bytes.fromhex,
}


def encode_multibase(prefix: str, data: bytes) -> str:
    """Multibase text of `data`; prefix one of b B z k K f F."""
    return prefix + _ENCODERS[prefix](data)


def decode_multibase(text: str) -> bytes:
    """Bytes of a multibase text; strict: only the canonical spelling of those bytes is accepted."""
    prefix, body = text[:1], text[1:]
    if prefix not in _DECODERS:
        raise MultiformatError(f"unsupported multibase prefix {prefix!r}")
    try:
        data = _DECODERS[prefix](body)
    except (binascii.Error, ValueError) as exc:
        raise MultiformatError(f"bad multibase {prefix!r} text") from exc
    if encode_multibase(prefix, data) != text:
        raise MultiformatError(f"bad or non-canonical multibase {prefix!r} text")
    return data
