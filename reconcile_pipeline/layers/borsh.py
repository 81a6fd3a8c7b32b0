"""Borsh primitives for Solana account data: a strict reader and a writer (pure, no I/O).

:class:`BorshReader` is a cursor over account bytes whose every failure is a :class:`DecodeError`
(layer "solana") naming the field and the byte offset; a short read consumes the rest, like Rust's
``Read::read_exact`` on a slice. :class:`BorshWriter` builds the same layouts (little-endian
integers, ``u8`` option and enum tags, ``u32``-length strings). Used by :mod:`.metaplex`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from solders.pubkey import Pubkey

from .errors import DecodeError

__all__ = ["BorshReader", "BorshWriter", "pubkey_bytes"]

T = TypeVar("T")


class BorshReader:
    """A cursor over account bytes; every failure is a DecodeError naming the field and byte offset."""

    def __init__(self, data: bytes, *, where: str = "") -> None:
        self.data, self.pos, self.where = data, 0, where

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def error(self, message: str, offset: int) -> DecodeError:
        return DecodeError(f"{message} at byte offset {offset}", layer="solana", where=self.where)

    def take(self, n: int, what: str) -> bytes:
        start = self.pos
        if n > self.remaining:
            self.pos = len(self.data)  # like Read::read_exact on a slice: a short read consumes the rest
            raise self.error(f"{what}: needs {n} bytes, only {len(self.data) - start} remain", start)
        self.pos += n
        return self.data[start : self.pos]

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def u8(self, what: str) -> int:
        return self.uint(1, what)

    def u16(self, what: str) -> int:
        return self.uint(2, what)

    def u32(self, what: str) -> int:
        return self.uint(4, what)

    def u64(self, what: str) -> int:
        return self.uint(8, what)

    def enum_tag(self, what: str, variants: int) -> int:
        start, tag = self.pos, self.u8(what)
        if tag >= variants:
            raise self.error(f"{what}: enum tag {tag} out of range 0..{variants - 1}", start)
        return tag

    def bool(self, what: str) -> bool:
        start, value = self.pos, self.u8(what)
        if value > 1:
            raise self.error(f"{what}: bool byte {value} is not 0 or 1", start)
        return value == 1

    def option(self, what: str, read: Callable[[], T]) -> T | None:
        start, tag = self.pos, self.u8(f"{what} option tag")
        if tag > 1:
            raise self.error(f"{what}: option tag {tag} is not 0 or 1", start)
        return read() if tag == 1 else None

    def trailing(self, read: Callable[[], T], *, strict: bool) -> tuple[bool, T | None]:
        """A field added in a later layout version: ``(True, None)`` when no bytes remain, else ``(True, read())``.

        A failed read gives ``(False, None)`` and, like Borsh on a slice, leaves the cursor where it
        stopped; with ``strict`` the DecodeError is raised instead.
        """
        if not self.remaining:
            return True, None
        try:
            return True, read()
        except DecodeError:
            if strict:
                raise
            return False, None

    def pubkey(self, what: str) -> str:
        return str(Pubkey(self.take(32, what)))

    def string(self, what: str, max_len: int) -> str:
        start, length = self.pos, self.u32(f"{what} length")
        if length > max_len:
            raise self.error(f"{what}: length {length} exceeds the {max_len}-byte maximum", start)
        if length > self.remaining:
            raise self.error(f"{what}: length {length} is longer than the {self.remaining} bytes remaining", start)
        raw = self.take(length, what)
        try:
            return raw.decode("utf-8").rstrip("\x00")
        except UnicodeDecodeError as exc:
            raise self.error(f"{what}: invalid UTF-8", start + 4 + exc.start) from None


class BorshWriter:
    def __init__(self) -> None:
        self.buf = bytearray()

    def raw(self, data: bytes) -> None:
        self.buf += data

    def uint(self, value: int, size: int) -> None:
        self.buf += value.to_bytes(size, "little")

    def u8(self, value: int) -> None:
        self.uint(value, 1)

    def u16(self, value: int) -> None:
        self.uint(value, 2)

    def u32(self, value: int) -> None:
        self.uint(value, 4)

    def u64(self, value: int) -> None:
        self.uint(value, 8)

    def bool(self, value: bool) -> None:
        self.u8(1 if value else 0)

    def option(self, value: T | None, write: Callable[[T], object]) -> None:
        self.u8(0 if value is None else 1)
        if value is not None:
            write(value)

    def puffed_string(self, value: str, width: int) -> None:
        """Like the program's ``puff_out_data_fields``: NUL-pad to the field's fixed width."""
        encoded = value.encode("utf-8")
        if len(encoded) > width:
            raise ValueError(f"{value!r} is {len(encoded)} bytes, the field holds {width}")
        self.u32(width)
        self.raw(encoded.ljust(width, b"\x00"))

    def padded(self, size: int) -> bytes:
        return bytes(self.buf.ljust(size, b"\x00"))


def pubkey_bytes(address: str) -> bytes:
    return bytes(Pubkey.from_string(address))
