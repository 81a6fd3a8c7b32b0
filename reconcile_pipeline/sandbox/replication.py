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

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from ..layers.replica_diff import SqlBackend, TableSpec, diff_tables
from .postgres import execute_autocommit

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"not a plain PostgreSQL name: {value!r}")
    return value


def publish(primary_url: str, publication: str, tables: tuple[str, ...]) -> None:
    names = ", ".join(_name(t) for t in tables)
    execute_autocommit(primary_url, f"CREATE PUBLICATION {_name(publication)} FOR TABLE {names}")


def subscribe(replica_url: str, primary_url: str, subscription: str, publication: str) -> None:
    """Subscribe the replica (whose tables exist already) to the primary's publication."""
    primary = make_url(primary_url)
    conninfo = f"host={primary.host} port={primary.port} dbname={primary.database} user={primary.username}"
    if primary.password:
        conninfo += f" password={primary.password}"
    execute_autocommit(replica_url, f"CREATE SUBSCRIPTION {_name(subscription)} CONNECTION '{conninfo}' "
                                    f"PUBLICATION {_name(publication)}")  # fmt: skip


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


def pause(replica_url: str, subscription: str) -> None:
    execute_autocommit(replica_url, f"ALTER SUBSCRIPTION {_name(subscription)} DISABLE")


def resume(replica_url: str, subscription: str) -> None:
    execute_autocommit(replica_url, f"ALTER SUBSCRIPTION {_name(subscription)} ENABLE")


def unsubscribe(replica_url: str, subscription: str) -> None:
    execute_autocommit(replica_url, f"DROP SUBSCRIPTION IF EXISTS {_name(subscription)}")
