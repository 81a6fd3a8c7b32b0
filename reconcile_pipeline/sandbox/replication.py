"""PostgreSQL logical replication between clusters on loopback, for the local world's replicas.

:func:`publish` creates a publication of the record tables on the primary (its cluster needs
``wal_level = logical``); :func:`subscribe` creates the tables on a replica and a subscription to that
publication (the initial copy, then every change streamed); :func:`wait_caught_up` waits until the replica's
slot has confirmed the primary's current WAL position; :func:`pause` / :func:`resume` disable and enable a
subscription (a lagging replica); :func:`unsubscribe` drops it with its slot, so the primary can be stopped.
"""

from __future__ import annotations

import re
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ..layers.replica_diff import SqlBackend, TableSpec, diff_tables

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"not a plain PostgreSQL name: {value!r}")
    return value


def _autocommit(url: str):  # noqa: ANN202
    return create_engine(url, isolation_level="AUTOCOMMIT")


def publish(primary_url: str, publication: str, tables: tuple[str, ...]) -> None:
    engine = _autocommit(primary_url)
    try:
        with engine.connect() as connection:
            names = ", ".join(_name(t) for t in tables)
            connection.execute(text(f"CREATE PUBLICATION {_name(publication)} FOR TABLE {names}"))
    finally:
        engine.dispose()


def subscribe(replica_url: str, primary_url: str, subscription: str, publication: str) -> None:
    """Subscribe the replica (whose tables exist already) to the primary's publication."""
    primary = make_url(primary_url)
    conninfo = f"host={primary.host} port={primary.port} dbname={primary.database} user={primary.username}"
    if primary.password:
        conninfo += f" password={primary.password}"
    engine = _autocommit(replica_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE SUBSCRIPTION {_name(subscription)} CONNECTION '{conninfo}' "
                                    f"PUBLICATION {_name(publication)}"))  # fmt: skip
    finally:
        engine.dispose()


def wait_caught_up(primary_url: str, replica_url: str, table: TableSpec, timeout_s: float = 30.0) -> None:
    """Until the replica's copy of ``table`` equals the primary's (the initial copy done, every change applied).

    Judged on the data (the in-database diff), not on WAL positions: a slot's confirmed position only moves
    with the subscriber's next feedback, which an idle primary may not prompt for many seconds."""
    primary, replica = create_engine(primary_url), create_engine(replica_url)
    deadline = time.monotonic() + timeout_s
    try:
        while not diff_tables(SqlBackend(primary, table), SqlBackend(replica, table)).clean:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica of {table.name} did not catch up within {timeout_s} s")
            time.sleep(0.05)
    finally:
        primary.dispose(), replica.dispose()


def _alter(replica_url: str, subscription: str, action: str) -> None:
    engine = _autocommit(replica_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f"ALTER SUBSCRIPTION {_name(subscription)} {action}"))
    finally:
        engine.dispose()


def pause(replica_url: str, subscription: str) -> None:
    _alter(replica_url, subscription, "DISABLE")


def resume(replica_url: str, subscription: str) -> None:
    _alter(replica_url, subscription, "ENABLE")


def unsubscribe(replica_url: str, subscription: str) -> None:
    engine = _autocommit(replica_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f"DROP SUBSCRIPTION IF EXISTS {_name(subscription)}"))
    finally:
        engine.dispose()
