"""Row-level diff of one table between a primary and a replica, computed inside each database.

Checksum bisection over buckets of a *hash of the key* (so string keys such as base58 addresses and CIDs
spread evenly, which key ranges do not):

1. each side returns, per bucket ``substr(md5(key), 1, L)``, the row count and two sums of 32-bit pieces
   of ``md5(row)`` (a 64-bit checksum that no row order or grouping affects); ``L`` is chosen from the
   primary's row count so that a bucket holds about :data:`ROWS_PER_BUCKET` rows;
2. only buckets whose (count, checksum) differ go on: a small one (at most ``fetch_threshold`` rows on
   either side) ships its keys with their row hashes; a larger one (a skewed table) is split one hex digit
   further, within those buckets only;
3. keys present on one side only are missing or extra rows; keys whose row hashes differ are fetched from
   both sides, in batches, and the differing columns are named.

Nothing ships a table: a clean pair of 1M-row tables costs one grouped scan on each side. The row text
is the columns' text with NULL marked apart from '' and a unit separator between columns; it is rendered
by the database, so both sides must be the same kind of database (PostgreSQL with PostgreSQL, SQLite with
SQLite). Each dialect is a tiny backend (:class:`SqlDialect`); another store (a document or graph copy) can
be added as one more backend that answers :class:`DiffBackend`'s three questions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc

from .errors import LayerDataError, LayerUnavailable

ROWS_PER_BUCKET = 16
MAX_DIGITS = 32
BATCH = 5000  # bound parameters per statement (SQLite allows 32766)
T = TypeVar("T")
BucketDigest = tuple[int, int, int]  # rows, sum of the row hashes' first 32 bits, of their next 32 bits


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: str
    columns: tuple[str, ...]  # compared columns, the key included or not

    @property
    def all_columns(self) -> tuple[str, ...]:
        return (self.key, *[c for c in self.columns if c != self.key])


@dataclass
class RowDiff:
    missing: list[str] = field(default_factory=list)  # on the primary, not on the replica
    extra: list[str] = field(default_factory=list)  # on the replica, not on the primary
    different: dict[str, list[str]] = field(default_factory=dict)  # key -> the columns that differ
    queries: int = 0  # statements sent to both sides
    rows_shipped: int = 0  # key/hash pairs and rows fetched from both sides

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.different)


class DiffBackend(Protocol):
    def row_count(self) -> int: ...
    def bucket_digests(self, digits: int, within: Sequence[str] = ()) -> dict[str, BucketDigest]: ...
    def row_hashes(self, digits: int, buckets: Sequence[str]) -> dict[str, str]: ...
    def rows(self, keys: Sequence[str]) -> dict[str, dict[str, str | None]]: ...


@dataclass(frozen=True)
class SqlDialect:
    """How one SQL dialect spells the three expressions the diff needs."""

    name: str
    null_marker: str
    separator: str

    def key_hash(self, key: str) -> str:
        return f"md5(CAST({key} AS TEXT))"

    def row_text(self, columns: Iterable[str]) -> str:
        parts = [f"coalesce(CAST({c} AS TEXT), {self.null_marker})" for c in columns]
        return f" || {self.separator} || ".join(parts)

    def piece(self, row_hash: str, start: int) -> str:
        if self.name == "postgresql":
            return f"('x' || substr({row_hash}, {start}, 8))::bit(32)::bigint"
        return f"hex32(substr({row_hash}, {start}, 8))"


POSTGRESQL = SqlDialect("postgresql", "E'\\x1e'", "E'\\x1f'")
SQLITE = SqlDialect("sqlite", "char(30)", "char(31)")


def _quote(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _sqlite_functions(dbapi_connection: object, _record: object) -> None:
    create = dbapi_connection.create_function  # type: ignore[attr-defined]
    create("md5", 1, lambda s: None if s is None else hashlib.md5(str(s).encode()).hexdigest(), deterministic=True)
    create("hex32", 1, lambda s: int(s, 16), deterministic=True)


class SqlBackend:
    """One side of the diff: a table in a database reached through a SQLAlchemy engine."""

    def __init__(self, engine: Engine, table: TableSpec, *, layer: str = "replica") -> None:
        self.engine, self.table, self.layer = engine, table, layer
        self.dialect = POSTGRESQL if engine.dialect.name == "postgresql" else SQLITE
        if self.dialect is SQLITE and not event.contains(engine, "connect", _sqlite_functions):
            event.listen(engine, "connect", _sqlite_functions)
            engine.dispose()  # connections opened before get the functions too
        self.queries = 0
        columns = [_quote(c) for c in table.all_columns]
        self._key = _quote(table.key)
        self._hashed = (f"SELECT {self.dialect.key_hash(self._key)} AS kh, md5({self.dialect.row_text(columns)}) AS rh,"
                        f" CAST({self._key} AS TEXT) AS k FROM {_quote(table.name)}")  # fmt: skip

    def query(self, sql: str, params: dict | None = None) -> list:
        """Rows of one statement on this side (a read failure in the LayerError tree)."""
        self.queries += 1
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(text(sql), params or {}))
        except sa_exc.OperationalError as exc:
            raise LayerUnavailable(f"could not read {self.table.name}: {type(exc.orig).__name__}",
                                   layer=self.layer, where=self.table.name) from None  # fmt: skip
        except sa_exc.DBAPIError as exc:
            raise LayerDataError(f"could not read {self.table.name}: {type(exc.orig).__name__}",
                                 layer=self.layer, where=self.table.name) from None  # fmt: skip

    def row_count(self) -> int:
        """The row count, or PostgreSQL's planner estimate when it has one (it only sizes the buckets)."""
        if self.dialect is POSTGRESQL:
            estimate = self.query("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)", {"t": self.table.name})
            if estimate and estimate[0][0] is not None and estimate[0][0] >= 0:
                return int(estimate[0][0])
        return int(self.query(f"SELECT count(*) FROM {_quote(self.table.name)}")[0][0])

    def bucket_digests(self, digits: int, within: Sequence[str] = ()) -> dict[str, BucketDigest]:
        lo, hi = self.dialect.piece("rh", 1), self.dialect.piece("rh", 9)
        select = f"SELECT substr(kh, 1, {digits}) AS b, count(*), sum({lo}), sum({hi}) FROM ({self._hashed}) s"
        if not within:
            return _digests(self.query(f"{select} GROUP BY b"))
        out: dict[str, BucketDigest] = {}
        for where, params in _in_clauses(f"substr(kh, 1, {len(within[0])})", within):
            out.update(_digests(self.query(f"{select} WHERE {where} GROUP BY b", params)))
        return out

    def row_hashes(self, digits: int, buckets: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for where, params in _in_clauses(f"substr(kh, 1, {digits})", buckets):
            out.update((str(k), str(h)) for k, h in self.query(f"SELECT k, rh FROM ({self._hashed}) s WHERE {where}",
                                                              params))  # fmt: skip
        return out

    def rows(self, keys: Sequence[str]) -> dict[str, dict[str, str | None]]:
        columns = self.table.all_columns
        listed = ", ".join(f"CAST({_quote(c)} AS TEXT)" for c in columns)
        out: dict[str, dict[str, str | None]] = {}
        for where, params in _in_clauses(f"CAST({self._key} AS TEXT)", keys):
            for row in self.query(f"SELECT {listed} FROM {_quote(self.table.name)} WHERE {where}", params):
                out[str(row[0])] = dict(zip(columns, row, strict=True))
        return out


def _digests(rows: list) -> dict[str, BucketDigest]:
    return {str(b): (int(n), int(lo or 0), int(hi or 0)) for b, n, lo, hi in rows}


def _in_clauses(expression: str, values: Sequence[str]) -> Iterable[tuple[str, dict]]:
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        names = [f"v{i}" for i in range(len(chunk))]
        yield f"{expression} IN ({', '.join(':' + n for n in names)})", dict(zip(names, chunk, strict=True))


def start_digits(rows: int, rows_per_bucket: int = ROWS_PER_BUCKET) -> int:
    """Hex digits of the first level: about ``rows_per_bucket`` rows a bucket (at least 1 digit)."""
    return max(1, min(MAX_DIGITS, math.ceil(math.log(max(rows, 1) / rows_per_bucket, 16)) if rows > 0 else 1))


def _both(call: Callable[[DiffBackend], T], primary: DiffBackend, replica: DiffBackend) -> tuple[T, T]:
    """``call`` on both sides at once: they are separate databases (in production, separate machines)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        left = pool.submit(call, primary)
        right = call(replica)
        return left.result(), right


def diff_tables(primary: DiffBackend, replica: DiffBackend, *, fetch_threshold: int = 256) -> RowDiff:
    """The rows that differ between ``primary`` and ``replica`` (see the module docstring)."""
    diff = RowDiff()
    digits = start_digits(primary.row_count())
    left, right = _both(lambda side: side.bucket_digests(digits), primary, replica)
    to_fetch: list[str] = []
    while True:
        differing = sorted(b for b in left.keys() | right.keys() if left.get(b) != right.get(b))
        small = [b for b in differing if max(left.get(b, (0, 0, 0))[0], right.get(b, (0, 0, 0))[0]) <= fetch_threshold]
        to_fetch.extend(small)
        large = [b for b in differing if b not in set(small)]
        if not large or digits >= MAX_DIGITS:
            to_fetch.extend(large)
            break
        digits += 1
        left, right = _both(lambda side: side.bucket_digests(digits, large), primary, replica)  # noqa: B023
    _compare_buckets(diff, primary, replica, to_fetch)
    diff.queries = getattr(primary, "queries", 0) + getattr(replica, "queries", 0)
    return diff


def _compare_buckets(diff: RowDiff, primary: DiffBackend, replica: DiffBackend, buckets: list[str]) -> None:
    by_digits: dict[int, list[str]] = {}
    for bucket in buckets:
        by_digits.setdefault(len(bucket), []).append(bucket)
    left: dict[str, str] = {}
    right: dict[str, str] = {}
    for digits, group in sorted(by_digits.items()):
        ours, theirs = _both(lambda side: side.row_hashes(digits, group), primary, replica)  # noqa: B023
        left.update(ours)
        right.update(theirs)
    diff.rows_shipped += len(left) + len(right)
    diff.missing = sorted(left.keys() - right.keys())
    diff.extra = sorted(right.keys() - left.keys())
    changed = sorted(k for k in left.keys() & right.keys() if left[k] != right[k])
    if changed:
        ours, theirs = _both(lambda side: side.rows(changed), primary, replica)
        diff.rows_shipped += len(ours) + len(theirs)
        diff.different = {k: [c for c in ours[k] if ours[k][c] != theirs[k][c]] for k in changed}
