"""The backend database layer (PostgreSQL in production, SQLite embedded), no Dagster.

:class:`DatabaseClient` reads ``minting_operations``, ``source_image_registry`` and the
pipeline's own tables into pandas frames: columns are the table's columns, timestamps are
tz-aware UTC, rows stream in chunks (``yield_per``; server-side cursors on PostgreSQL), so a
read of millions of rows never loops over rows in Python. Errors come out as the LayerError
tree (see :mod:`reconcile_pipeline.db.engine` for the mapping): a database that cannot be
reached is ``LayerUnavailable``; one that was never migrated is ``LayerDataError`` with a hint.

Writes are for the pipeline's own tables (findings, consistency checks, run history, the
registry) and for the local world's builder (minting operations); each call is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..db.engine import LAYER, MIGRATE_HINT, make_engine, map_db_error, parse_db_url, sqlite_file
from ..db.models import TABLES, UtcDateTime
from ..shards import Shard
from .database_shards import duplicate_group_anchors, read_shard
from .errors import LayerConnectError

IDS_PER_QUERY = 500
ROWS_PER_INSERT = 10_000
TIMESTAMP_DTYPE = "datetime64[us, UTC]"
_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def typed_frame(table: Table, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate chunks into one frame of the table's columns; timestamps tz-aware UTC, even when empty."""
    columns = [column.name for column in table.columns]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    for column in table.columns:
        if isinstance(column.type, UtcDateTime):
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True).astype(TIMESTAMP_DTYPE)
    return frame[columns]


def _grouped_by_keys(table: Table, rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Rows grouped by their key set (one executemany per group); unknown columns are refused."""
    known = set(table.columns.keys())
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"unknown column(s) {sorted(unknown)} for table {table.name}")
        clean = {key: None if _is_missing(value) else value for key, value in row.items()}
        groups.setdefault(tuple(sorted(row)), []).append(clean)
    return groups


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT, pd.NA: rows built from frames carry these for SQL NULL."""
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


class DatabaseClient:
    """Reads and writes the backend database at ``url`` (a SQLAlchemy URL)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10, chunk_rows: int = 50_000) -> None:
        self.url = parse_db_url(url)
        self.connect_timeout_s = connect_timeout_s
        self.chunk_rows = chunk_rows
        self._engine: Engine | None = None

    @property
    def where(self) -> str:
        """The URL with the password hidden: for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"DatabaseClient({self.where!r})"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> DatabaseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def engine(self) -> Engine:
        if self._engine is None:
            path = sqlite_file(self.url)
            if path is not None and not path.exists():  # connecting would create an empty file
                raise LayerConnectError(f"SQLite file not found; {MIGRATE_HINT}", layer=LAYER, where=self.where)
            self._engine = make_engine(self.url, connect_timeout_s=self.connect_timeout_s)
        return self._engine

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[Connection]:
        """A connection (a transaction, committed on success, when ``write``); errors come out mapped."""
        try:
            with self.engine().begin() if write else self.engine().connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise map_db_error(exc, self.url) from exc

    def ping(self) -> None:
        with self.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar_one()

    # -- reads ---------------------------------------------------------------------------------

    def read_table(self, name: str, statements: Iterable[Any] | None = None) -> pd.DataFrame:
        """Run ``statements`` (default: the whole table by primary key) into one frame, chunk by chunk."""
        table = TABLES[name]
        if statements is None:
            statements = [select(table).order_by(*table.primary_key.columns)]
        frames: list[pd.DataFrame] = []
        with self.connect() as conn:
            for statement in statements:
                result = conn.execution_options(yield_per=self.chunk_rows).execute(statement)
                keys = list(result.keys())
                frames.extend(pd.DataFrame.from_records(part, columns=keys) for part in result.partitions())
        return typed_frame(table, frames)

    def read_minting_operations(
        self,
        *,
        updated_since: datetime | None = None,
        ids: Iterable[str] | None = None,
        mints: Iterable[str] | None = None,
        shard: Shard | None = None,
        group_statuses: Sequence[str] = (),
    ) -> pd.DataFrame:
        """One row per operation; ``updated_since`` (tz-aware), ``ids`` and ``mints`` narrow the read.

        ``shard``: the database filters about the shard's rows (:mod:`.shard_sql`), streamed chunk by chunk,
        and the exact placement (:mod:`..shards`) keeps the shard's, so memory follows the shard, not the
        table; operations in ``group_statuses`` sharing a wallet and level with another such operation go with
        their group's anchor."""
        table = TABLES["minting_operations"]
        statement = select(table).order_by(table.c.id)
        if updated_since is not None:
            statement = statement.where(table.c.updated_at >= updated_since)
        if shard is not None and ids is None and mints is None:
            return read_shard(self, statement, shard, group_statuses)
        if mints is not None:
            wanted = list(dict.fromkeys(str(m) for m in mints))
            chunks = [statement.where(table.c.mint_address.in_(c)) for c in _chunks(wanted, IDS_PER_QUERY)]
            return self.read_table(table.name, chunks).sort_values("id", ignore_index=True)
        if ids is None:
            return self.read_table(table.name, [statement])
        wanted = list(dict.fromkeys(str(i) for i in ids))
        chunks = [statement.where(table.c.id.in_(chunk)) for chunk in _chunks(wanted, IDS_PER_QUERY)]
        return self.read_table(table.name, chunks).sort_values("id", ignore_index=True)

    def read_minting_operations_naming(self, texts: Iterable[str]) -> pd.DataFrame:
        """The operations whose metadata or image URI contains any of ``texts`` (e.g. a CID's spellings); the
        caller checks the match exactly (a substring of a longer CID is no match)."""
        table = TABLES["minting_operations"]
        uris = [column.contains(text, autoescape=True) for text in texts
                for column in (table.c.metadata_uri, table.c.image_uri)]  # fmt: skip
        return self.read_table(table.name, [select(table).where(or_(*uris)).order_by(table.c.id)])

    def count_minting_operations(self) -> int:
        table = TABLES["minting_operations"]
        with self.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def duplicate_group_anchors(self, statuses: Sequence[str]) -> dict[tuple[str, str], int]:
        """(wallet, level) -> the placing byte of each duplicate group (see :mod:`.database_shards`)."""
        return duplicate_group_anchors(self, statuses)

    def read_source_image_registry(self) -> pd.DataFrame:
        table = TABLES["source_image_registry"]
        return self.read_table(table.name, [select(table).order_by(table.c.level)])

    def read_consistency_checks(self, *, run_id: str | None = None) -> pd.DataFrame:
        return self._read_run_rows("consistency_checks", run_id)

    def read_findings(self, *, run_id: str | None = None) -> pd.DataFrame:
        return self._read_run_rows("findings", run_id)

    def read_run_history(self) -> pd.DataFrame:
        table = TABLES["run_history"]
        return self.read_table(table.name, [select(table).order_by(table.c.started_at, table.c.run_id)])

    def _read_run_rows(self, name: str, run_id: str | None) -> pd.DataFrame:
        table = TABLES[name]
        statement = select(table).order_by(table.c.id)
        if run_id is not None:
            statement = statement.where(table.c.run_id == run_id)
        return self.read_table(name, [statement])

    # -- writes --------------------------------------------------------------------------------

    def insert_minting_operations(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert operation rows (``id`` and timestamps default when absent). Returns the row count."""
        return self._insert("minting_operations", rows)

    def write_consistency_checks(self, rows: Iterable[dict[str, Any]], *, run_id: str | None = None) -> int:
        """Insert audit rows; with ``run_id``, first delete that run's rows (a retried run writes once)."""
        if run_id is None:
            return self._insert("consistency_checks", rows)
        table = TABLES["consistency_checks"]
        groups = _grouped_by_keys(table, [{**row, "run_id": run_id} for row in rows])
        with self.connect(write=True) as conn:
            conn.execute(delete(table).where(table.c.run_id == run_id))
            return self._insert_groups(conn, table, groups)

    def write_findings(self, run_id: str, findings: Iterable[dict[str, Any]]) -> int:
        """Replace the findings of ``run_id`` with ``findings`` (idempotent per run)."""
        table = TABLES["findings"]
        rows = [{**finding, "run_id": run_id, "layers": list(finding.get("layers", []))} for finding in findings]
        groups = _grouped_by_keys(table, rows)
        with self.connect(write=True) as conn:
            conn.execute(delete(table).where(table.c.run_id == run_id))
            self._insert_groups(conn, table, groups)
        return len(rows)

    def upsert_registry(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert or update ``source_image_registry`` rows by ``level`` (the given columns only)."""
        return self._upsert("source_image_registry", rows, key="level")

    def record_run(
        self,
        run_id: str,
        *,
        cadence: str,
        started_at: datetime,
        status: str,
        finished_at: datetime | None = None,
        counts: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Create or update the ``run_history`` row of ``run_id``."""
        row = {"run_id": run_id, "cadence": cadence, "started_at": started_at, "status": status}
        row |= {"finished_at": finished_at, "counts": counts, "metrics": metrics}
        self._upsert("run_history", [row], key="run_id")

    def _insert(self, name: str, rows: Iterable[dict[str, Any]]) -> int:
        table = TABLES[name]
        groups = _grouped_by_keys(table, rows)
        with self.connect(write=True) as conn:
            return self._insert_groups(conn, table, groups)

    @staticmethod
    def _insert_groups(conn: Connection, table: Table, groups: dict[tuple[str, ...], list[dict[str, Any]]]) -> int:
        for group in groups.values():
            for chunk in _chunks(group, ROWS_PER_INSERT):
                conn.execute(insert(table), list(chunk))
        return sum(len(group) for group in groups.values())

    def write_run(self, run_id: str, findings: list[dict], audit: list[dict], history: dict) -> dict[str, int]:
        """Replace ``run_id``'s findings and audit rows and upsert its run_history row, in one transaction:
        a run killed mid-write leaves all of it or none of it."""
        rows = {
            "findings": [{**f, "run_id": run_id, "layers": list(f.get("layers", []))} for f in findings],
            "consistency_checks": [{**row, "run_id": run_id} for row in audit],
        }
        written = {}
        with self.connect(write=True) as conn:
            for name, table_rows in rows.items():
                table = TABLES[name]
                conn.execute(delete(table).where(table.c.run_id == run_id))
                written[name] = self._insert_groups(conn, table, _grouped_by_keys(table, table_rows))
            self._upsert_in(conn, "run_history", [{**history, "run_id": run_id}], key="run_id")
        return written

    def _upsert(self, name: str, rows: Iterable[dict[str, Any]], *, key: str) -> int:
        with self.connect(write=True) as conn:
            return self._upsert_in(conn, name, rows, key=key)

    @staticmethod
    def _upsert_in(conn: Connection, name: str, rows: Iterable[dict[str, Any]], *, key: str) -> int:
        table = TABLES[name]
        groups = _grouped_by_keys(table, rows)
        dialect_insert = _DIALECT_INSERT.get(conn.dialect.name)
        if dialect_insert is None:
            raise NotImplementedError(f"upsert is not implemented for {conn.dialect.name}")
        for columns, group in groups.items():
            statement = dialect_insert(table)
            updates = {c: statement.excluded[c] for c in columns if c not in (key, "id")}
            if updates:
                statement = statement.on_conflict_do_update(index_elements=[key], set_=updates)
            else:
                statement = statement.on_conflict_do_nothing(index_elements=[key])
            for chunk in _chunks(group, ROWS_PER_INSERT):
                conn.execute(statement, list(chunk))
        return sum(len(group) for group in groups.values())
