"""Shards of the deep cadence (DESIGN §10: partition the deep scan so memory stays flat), pure functions.

A deep scan is ``count`` shard runs, ``count`` a power of two (1..256) chosen so each shard holds about
``reconciliation.deep_shard_size`` operations (or blocks). Shard ``i`` of ``n`` holds:

- the operations whose mint's first byte (the base58-decoded public key) lies in ``[i*256/n, (i+1)*256/n)``
  (the HIGH bits of the byte: a shard is one contiguous range of first bytes, so of key values, so of
  same-length base58 strings, which lets the database read filter a shard with string ranges, see
  :mod:`.layers.shard_sql`). The chain listing makes the same split with one-byte ``memcmp`` filters
  (:meth:`Shard.first_bytes`), so a chain-only mint (an orphan) is found by exactly the shard its DB row
  would be in; operations without a decodable mint go by the first byte of a BLAKE2b hash of their id;
- every operation of a wallet-and-level group with more than one minted operation goes with the group's
  *anchor* (its lowest op id), so DB_DUPLICATE_MINT sees the whole group in one shard (the database read
  finds those groups with one ``GROUP BY``);
- the blocks ``[i*size, (i+1)*size)`` of ``0..latest`` (``size`` = ceil((latest+1)/n)); the last shard also
  takes what lies above ``latest``.

Keys name both numbers (``"64-007"``: shard 7 of 64), so a change of ``n`` gives new keys.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from solders.pubkey import Pubkey

MAX_SHARDS = 256  # one byte of the mint decides the shard
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # in ASCII order


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` of ``count`` (``count`` a power of two, at most 256)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.count > MAX_SHARDS or self.count & (self.count - 1):
            raise ValueError(f"shard count {self.count} is not a power of two in 1..{MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is outside 0..{self.count - 1}")

    @property
    def key(self) -> str:
        return f"{self.count}-{self.index:03d}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"64-007"`` (a partition key) or ``"7/64"`` (the CLI's ``--shard``)."""
        try:
            if "/" in text:
                index, count = (int(part) for part in text.split("/"))
            else:
                count, index = (int(part) for part in text.split("-"))
        except ValueError:
            raise ValueError(f"bad shard {text!r}: expected INDEX/COUNT (e.g. 7/64) or COUNT-INDEX") from None
        return cls(index, count)

    def byte_range(self) -> tuple[int, int]:
        """The mint first bytes ``[low, high)`` of this shard: ``[index*256/count, (index+1)*256/count)``."""
        width = MAX_SHARDS // self.count
        return self.index * width, (self.index + 1) * width

    def first_bytes(self) -> list[int]:
        """The mint first-byte values of this shard (256/count of them, contiguous)."""
        return list(range(*self.byte_range()))

    def holds(self, first_byte: int) -> bool:
        low, high = self.byte_range()
        return low <= first_byte < high

    def block_range(self, latest: int) -> tuple[int, int]:
        """Block numbers ``[low, high)`` of ``0..latest`` for this shard (empty when low >= high)."""
        size = math.ceil((latest + 1) / self.count)
        return min(self.index * size, latest + 1), min((self.index + 1) * size, latest + 1)

    @property
    def last(self) -> bool:
        return self.index == self.count - 1


def shard_count(population: int, shard_size: int) -> int:
    """The power of two ``n`` (1..256) with ``population / n <= shard_size`` when it can be."""
    wanted = max(1, math.ceil(population / max(1, shard_size)))
    return min(MAX_SHARDS, 1 << (wanted - 1).bit_length())


def all_shards(count: int) -> list[Shard]:
    return [Shard(index, count) for index in range(count)]


def mint_first_byte(mint: object) -> int | None:
    """The first byte of a base58 public key; None when ``mint`` is not one."""
    if not isinstance(mint, str) or not 32 <= len(mint) <= 44:
        return None
    try:
        return bytes(Pubkey.from_string(mint))[0]
    except ValueError:
        return None


def id_first_byte(op_id: object) -> int:
    return hashlib.blake2b(str(op_id).encode(), digest_size=8).digest()[0]


def operation_byte(mint: object, op_id: object) -> int:
    """The byte that places an operation: its mint's first byte, else a stable hash of its id."""
    first = mint_first_byte(mint)
    return id_first_byte(op_id) if first is None else first


def base58_digits(value: int) -> str:
    """``value`` (>= 0) as base58 digits, most significant first, unpadded (``""`` for 0)."""
    digits = ""
    while value:
        value, rest = divmod(value, 58)
        digits = BASE58_ALPHABET[rest] + digits
    return digits


def base58_byte(value: int) -> str:
    """One byte in base58 (a ``memcmp`` filter's ``bytes``): 0 is ``"1"``."""
    if not 0 <= value < 256:
        raise ValueError(f"{value} is not a byte")
    return base58_digits(value) or "1"


def operation_bytes(
    mints: list, op_ids: list, anchors: dict[tuple, int] | None = None, group_keys: list | None = None
) -> list[int]:
    """The placing byte of each operation; ``group_keys[i]`` (wallet, level) found in ``anchors`` (or None
    for an operation outside any duplicate group) takes its group's anchor byte instead."""
    placed = [operation_byte(mint, op_id) for mint, op_id in zip(mints, op_ids, strict=True)]
    if anchors and group_keys is not None:
        pairs = zip(group_keys, placed, strict=True)
        placed = [byte if key is None else anchors.get(key, byte) for key, byte in pairs]
    return placed
