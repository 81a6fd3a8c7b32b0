"""The platform's record tables on a primary and its replicas (seed 003), read through SQLAlchemy.

:data:`CHAT_RECORDS` is the CHAT records table (``id``, ``seq`` in chain order, ``kind``, ``data`` as canonical
JSON, ``prev_hash``, ``hash``, ``created_at``, ``updated_at`` as ISO-8601 UTC text). :func:`compare_replica`
diffs one replica against the primary with the in-database checksum bisection of :mod:`.replica_diff` and
splits what differs into *lag* and *divergence*: a row missing or different on the replica whose primary
``updated_at`` is later than the newest ``updated_at`` the replica holds (its high-water mark) is a row the
replica has not reached yet (REPLICA_LAG, a warning), anything else diverges. The high-water mark is taken
over the replica's rows that equal the primary's, so an extra or altered row cannot move it. A replica that could not be
read is reported with its error, never as empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, text

from .errors import LayerError
from .replica_diff import RowDiff, SqlBackend, TableSpec, diff_tables

CHAT_COLUMNS = ("id", "seq", "kind", "data", "prev_hash", "hash", "created_at", "updated_at")
CHAT_RECORDS = TableSpec("chat_records", "id", CHAT_COLUMNS)

metadata = MetaData()
chat_records_table = Table(
    "chat_records",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


@dataclass
class ReplicaReport:
    name: str
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: dict[str, list[str]] = field(default_factory=dict)
    lagging: list[str] = field(default_factory=list)
    high_water: str | None = None
    error: LayerError | None = None
    diff: RowDiff | None = None

    @property
    def readable(self) -> bool:
        return self.error is None


def _high_water(replica: SqlBackend, excluded: set[str]) -> str | None:
    """The newest ``updated_at`` among the replica's rows that equal the primary's (an extra or altered row's own
    stamp proves nothing about how far replication got)."""
    newest = (f'SELECT CAST(id AS TEXT), updated_at FROM "{replica.table.name}" WHERE updated_at IS NOT NULL '
              "ORDER BY updated_at DESC LIMIT :n")
    rows = replica.query(newest, {"n": len(excluded) + 1})
    return next((stamp for key, stamp in rows if key not in excluded), None)


def _updated_at(primary: SqlBackend, keys: Sequence[str]) -> dict[str, str]:
    return {k: row.get("updated_at") or "" for k, row in primary.rows(list(keys)).items()}


def compare_replica(
    name: str, primary: SqlBackend, replica: SqlBackend, *, fetch_threshold: int = 256
) -> ReplicaReport:
    """Diff ``replica`` against ``primary`` and split lag from divergence (see the module docstring)."""
    report = ReplicaReport(name)
    try:
        diff = diff_tables(primary, replica, fetch_threshold=fetch_threshold)
        report.high_water = _high_water(replica, {*diff.extra, *diff.different})
        behind = [*diff.missing, *diff.different]
        stamps = _updated_at(primary, behind) if behind and report.high_water is not None else {}
    except LayerError as exc:
        report.error = exc
        return report
    report.diff = diff
    late = {k for k, stamp in stamps.items() if stamp > report.high_water}
    report.lagging = sorted(late)
    report.missing = [k for k in diff.missing if k not in late]
    report.different = {k: cols for k, cols in diff.different.items() if k not in late}
    report.extra = list(diff.extra)
    return report


def create_chat_records(engine: Engine) -> None:
    metadata.create_all(engine, tables=[chat_records_table])


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM chat_records")).scalar_one())
