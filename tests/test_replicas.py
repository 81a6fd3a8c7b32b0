"""Replicas of the CHAT records: SQLite files and PostgreSQL clusters fed by real logical replication; faults
made by hand with SQL on the replica (DELETE, INSERT, UPDATE) and a paused subscription (lag)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from reconcile_pipeline.layers.chat_records import build_chain
from reconcile_pipeline.layers.errors import LayerUnavailable
from reconcile_pipeline.layers.replica_diff import SqlBackend
from reconcile_pipeline.layers.replicas import CHAT_RECORDS, chat_records_table, compare_replica, create_chat_records
from reconcile_pipeline.sandbox import replication
from reconcile_pipeline.sandbox.postgres import ThrowawayCluster, create_database, server_bin_dir

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chat_rows(n: int, start: int = 0) -> list[dict]:
    chain = build_chain((f"tx-{i:05d}", {"amount": i}) for i in range(start + n))[start:]
    return [{"id": r.id, "seq": r.seq, "kind": "transfer", "data": r.data, "prev_hash": r.prev_hash, "hash": r.hash,
             "created_at": (T0 + timedelta(seconds=r.seq)).isoformat(),
             "updated_at": (T0 + timedelta(seconds=r.seq)).isoformat()} for r in chain]  # fmt: skip


def write(engine, rows: list[dict]) -> None:  # noqa: ANN001
    with engine.begin() as connection:
        connection.execute(insert(chat_records_table), rows)


def sql(engine, statement: str) -> None:  # noqa: ANN001
    with engine.begin() as connection:
        connection.execute(text(statement))


def compare(primary, replica):  # noqa: ANN001, ANN201
    return compare_replica("replica-1", SqlBackend(primary, CHAT_RECORDS, layer="primary"),
                           SqlBackend(replica, CHAT_RECORDS))  # fmt: skip


def test_sqlite_replica_faults_made_by_hand(tmp_path) -> None:  # noqa: ANN001
    primary, replica = (create_engine(f"sqlite:///{tmp_path / n}") for n in ("primary.db", "replica.db"))
    for engine in (primary, replica):
        create_chat_records(engine)
        write(engine, chat_rows(500))
    assert compare(primary, replica).missing == [] and compare(primary, replica).high_water is not None
    sql(replica, "DELETE FROM chat_records WHERE id = 'tx-00010'")
    sql(replica, "UPDATE chat_records SET kind = 'royalty' WHERE id = 'tx-00020'")
    sql(replica, "INSERT INTO chat_records VALUES ('ghost', 9999, 'transfer', '{}', '', 'x', 'a', 'a')")
    write(primary, chat_rows(3, start=500))  # written after the replica's newest row: it has not reached them
    report = compare(primary, replica)
    assert (report.missing, report.extra, report.different) == (["tx-00010"], ["ghost"], {"tx-00020": ["kind"]})
    assert report.lagging == ["tx-00500", "tx-00501", "tx-00502"]


def test_an_unreadable_replica_is_an_error_not_an_empty_table(tmp_path) -> None:  # noqa: ANN001
    primary = create_engine(f"sqlite:///{tmp_path / 'primary.db'}")
    create_chat_records(primary)
    write(primary, chat_rows(10))
    report = compare(primary, create_engine(f"sqlite:///{tmp_path / 'gone' / 'replica.db'}"))
    assert not report.readable and isinstance(report.error, LayerUnavailable) and report.missing == []


@pytest.fixture
def replicated() -> Iterator[tuple[str, str]]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries")
    clusters = [ThrowawayCluster(bin_dir, {"wal_level": "logical"}), ThrowawayCluster(bin_dir)]
    urls: list[str] = []
    try:
        for cluster in clusters:
            server = make_url(cluster.start())
            create_database(server.render_as_string(hide_password=False), "platform")
            urls.append(server.set(database="platform").render_as_string(hide_password=False))
        primary_url, replica_url = urls
        create_chat_records(create_engine(primary_url))
        create_chat_records(create_engine(replica_url))
        write(create_engine(primary_url), chat_rows(300))
        replication.publish(primary_url, "chat_pub", ("chat_records",))
        replication.subscribe(replica_url, primary_url, "chat_sub", "chat_pub")
        replication.wait_caught_up(primary_url, replica_url, CHAT_RECORDS)
        yield primary_url, replica_url
        replication.unsubscribe(replica_url, "chat_sub")
    finally:
        for cluster in reversed(clusters):
            cluster.stop()


@pytest.mark.postgres
def test_logical_replica_diverges_and_lags(replicated: tuple[str, str]) -> None:
    primary_url, replica_url = replicated
    primary, replica = create_engine(primary_url), create_engine(replica_url)
    assert compare(primary, replica).diff.clean
    write(primary, chat_rows(2, start=300))
    replication.wait_caught_up(primary_url, replica_url, CHAT_RECORDS)  # streamed, not copied
    sql(replica, "DELETE FROM chat_records WHERE id = 'tx-00007'")
    sql(replica, "UPDATE chat_records SET data = '{\"amount\":-1}' WHERE id = 'tx-00008'")
    replication.pause(replica_url, "chat_sub")
    write(primary, chat_rows(4, start=302))
    report = compare(primary, replica)
    assert (report.missing, report.different, report.extra) == (["tx-00007"], {"tx-00008": ["data"]}, [])
    assert report.lagging == ["tx-00302", "tx-00303", "tx-00304", "tx-00305"]
    replication.resume(replica_url, "chat_sub")
    write(primary, chat_rows(1, start=306))
    deadline = time.monotonic() + 30
    while compare(primary, replica).lagging and time.monotonic() < deadline:
        time.sleep(0.1)
    report = compare(primary, replica)
    assert report.lagging == [] and (report.missing, report.different) == (["tx-00007"], {"tx-00008": ["data"]})
