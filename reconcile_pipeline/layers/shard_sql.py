"""A shard's mints as SQL string ranges (:mod:`..shards`): the shard's database read fetches (almost) only
its own rows, filtered by the database, on SQLite and PostgreSQL.

Why ranges work. A mint is the base58 string of a 32-byte key. Read as a base58 numeral (the alphabet is in
ASCII order; ``'1'`` is the digit 0), the string's value is the key's value V (its leading ``'1'``\\ s are its
leading zero bytes: zero digits). Strings of one length L compare byte-wise (SQLite's BINARY collation,
PostgreSQL's ``COLLATE "C"``; a locale collation would not) as their numeral values. Shard i of n holds the
first bytes ``[lo, hi) = [i*256/n, (i+1)*256/n)``, i.e. V in ``[lo*2^248, hi*2^248)``; so a key string of
length L is in the shard iff ``X_L <= mint < Y_L`` with ``X_L = numeral(lo*2^248, L)``, ``Y_L =
numeral(hi*2^248, L)`` (``numeral(v, L)``: v in base58 padded with ``'1'`` to L characters; a bound
``v >= 58^L`` bounds nothing). Key strings are 32..44 characters: 43 or 44 when the first byte is >= 1
(``V >= 2^248 > 58^42``), down to 32 (32 ``'1'``\\ s) when it is 0. E.g. for 16 shards, shard 0 is every key
of 32..43 characters plus the 44-char ones below ``numeral(2^252, 44)``.

Exactness. Not every string in a range is a key: one with a character outside the alphabet (``'0'``,
``'O'``, ``'I'``, ``'l'``, ``'-'``, non-ASCII, NUL...), or of alphabet characters that decode to other than
32 bytes (a 44-char value >= 2^256, one ``'1'`` too many...). Python places those by the hash of the op id,
so EVERY shard fetches them. The predicate (a superset of the shard's rows)::

    CASE length(mint) WHEN 43 THEN mint in U_43 WHEN 44 THEN mint in U_44 ELSE TRUE END
      OR bad_chars(mint)  OR  id IN members

- ``U_L``: the shard's range ``[X_L, Y_L)`` united with the *gaps* of length L, the L-char alphabet strings
  that are not keys (exactly: an L-char numeral with z leading ``'1'``\\ s and value N is a key iff
  ``z + bytes(N) == 32``), merged into a few intervals of string bounds (:func:`fetch_bounds`);
- ``ELSE TRUE``: NULL (``CASE NULL`` takes ``ELSE``), empty, every other length. Keys of 32..42 chars
  (first byte 0 and the next one(s) small: about 1 key in 58,000) are fetched by every shard: a handful of
  rows, for a predicate of two lengths, not thirteen (:func:`range_bounds` has the bounds of every length);
- ``bad_chars``: a character outside the alphabet (PostgreSQL: a regular expression; SQLite: a GLOB class,
  or not text, or byte length != character length: non-ASCII, or a NUL, which SQLite's text functions stop
  at);
- ``members``: the ids of the duplicate groups' members (they go with their group's anchor).

So a key is fetched iff the shard holds its first byte, and every non-key is fetched by every shard (few
rows); the reader then applies the exact placement (:func:`..shards.operation_bytes`, anchors included) to
what it fetched. The result is the exact placement: every row in exactly one shard. :func:`fetches` is the
predicate in Python; the tests hold it against the placement and against both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import ColumnElement, LargeBinary, and_, bindparam, case, cast, false, func, or_, true

from ..shards import BASE58_ALPHABET, Shard, base58_digits

KEY_BYTES = 32
KEY_LENGTHS = range(32, 45)  # the lengths of a 32-byte key in base58
RANGED_LENGTHS = (43, 44)  # the lengths the SQL filters by range; every shard fetches the other lengths
BYTE_SHIFT = 8 * (KEY_BYTES - 1)  # a key's value is first_byte * 2**248 + the other 31 bytes
SQLITE_BAD_CHAR = "*[^1-9A-HJ-NP-Za-km-z]*"  # GLOB: a character outside BASE58_ALPHABET
POSTGRES_BAD_CHAR = f"[^{BASE58_ALPHABET}]"  # a regular expression: the same, each character listed

Interval = tuple[int, int]
Bounds = tuple[str | None, str | None]  # [low, high) of same-length strings; None: unbounded


def numeral(value: int, length: int) -> str:
    """``value`` in base58, padded with ``'1'`` (the zero digit) to ``length`` characters."""
    digits = base58_digits(value)
    if len(digits) > length:
        raise ValueError(f"{len(digits)} base58 digits do not fit in {length}")
    return "1" * (length - len(digits)) + digits


def _merged(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for low, high in sorted(i for i in intervals if i[0] < i[1]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


@cache
def key_values(length: int) -> tuple[Interval, ...]:
    """The numeral values of the ``length``-char alphabet strings that decode to exactly 32 bytes."""
    found = [(0, 1)] if length == KEY_BYTES else []  # 32 '1's: 32 zero bytes
    for ones in range(min(length, KEY_BYTES)):  # z leading '1's, then a numeral N of length - z digits
        digits = length - ones
        low = max(58 ** (digits - 1), 256 ** (KEY_BYTES - 1 - ones))  # N has digits digits and
        high = min(58**digits, 256 ** (KEY_BYTES - ones))  # 32 - z bytes
        found.append((low, high))
    return tuple(_merged(found))


def _gaps(length: int) -> list[Interval]:
    """The values of the ``length``-char alphabet strings that are not keys."""
    gaps, start = [], 0
    for low, high in key_values(length):
        gaps.append((start, low))
        start = high
    gaps.append((start, 58**length))
    return [gap for gap in gaps if gap[0] < gap[1]]


def shard_values(shard: Shard, length: int) -> Interval:
    """The shard's key values ``[lo*2^248, hi*2^248)``, cut to what ``length`` base58 digits can hold."""
    low, high = (byte << BYTE_SHIFT for byte in shard.byte_range())
    top = 58**length
    return min(low, top), min(high, top)


def _bounds(intervals: Sequence[Interval], length: int) -> tuple[Bounds, ...]:
    top = 58**length
    return tuple(
        (numeral(low, length) if low > 0 else None, numeral(high, length) if high < top else None)
        for low, high in intervals
    )


@cache
def range_bounds(shard: Shard, length: int) -> tuple[Bounds, ...]:
    """The shard's keys of ``length`` chars as string bounds ``(X_L, Y_L)`` (empty: none of that length)."""
    return _bounds(_merged([shard_values(shard, length)]), length)


@cache
def fetch_bounds(shard: Shard, length: int) -> tuple[Bounds, ...]:
    """The shard's range and the non-key gaps of ``length`` chars, merged, as string bounds."""
    return _bounds(_merged([*_gaps(length), shard_values(shard, length)]), length)


def has_bad_chars(text: str) -> bool:
    return bool(text.strip(BASE58_ALPHABET))


def within(text: str, bounds: Sequence[Bounds]) -> bool:
    """``text`` in one of ``bounds`` (code point order: byte order for alphabet strings)."""
    return any((low is None or text >= low) and (high is None or text < high) for low, high in bounds)


def fetches(mint: object, shard: Shard) -> bool:
    """The SQL predicate in Python (members aside): does ``shard``'s read fetch a row with ``mint``?"""
    if not isinstance(mint, str) or has_bad_chars(mint) or len(mint) not in RANGED_LENGTHS:
        return True
    return within(mint, fetch_bounds(shard, len(mint)))


# -- SQL --------------------------------------------------------------------------------------------------
def _bad_chars(mint: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return mint.regexp_match(POSTGRES_BAD_CHAR)
    if dialect == "sqlite":
        not_plain = or_(func.typeof(mint) != "text", func.length(cast(mint, LargeBinary)) != func.length(mint))
        return or_(not_plain, mint.op("GLOB")(SQLITE_BAD_CHAR))
    raise NotImplementedError(f"shard reads are not implemented for {dialect}")


def _within(text: ColumnElement, bounds: Sequence[Bounds]) -> ColumnElement:
    terms = [
        and_(true(), *([] if low is None else [text >= low]), *([] if high is None else [text < high]))
        for low, high in bounds
    ]
    return or_(false(), *terms)


def shard_superset(
    mint: ColumnElement, op_id: ColumnElement, shard: Shard, members: Sequence[str], dialect: str
) -> ColumnElement:
    """A WHERE clause fetching the shard's rows, the non-keys and ``members`` (see the module docstring);
    ``dialect``: ``"sqlite"`` or ``"postgresql"`` (byte-order comparisons: ``COLLATE "C"``)."""
    if shard.count == 1:
        return true()
    text = mint.collate("C") if dialect == "postgresql" else mint
    by_length = {length: _within(text, fetch_bounds(shard, length)) for length in RANGED_LENGTHS}
    terms = [case(by_length, value=func.length(mint), else_=true()), _bad_chars(text, dialect)]
    if members:
        terms.append(op_id.in_(bindparam("shard_members", list(members), expanding=True, literal_execute=True)))
    return or_(*terms)
