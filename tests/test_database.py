"""The database layer over both backends (SQLite and PostgreSQL): migrations, schema, reads, writes, errors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from reconcile_pipeline.db.migrate import VERSION_TABLE, current_revision, head_revision, migrate
from reconcile_pipeline.db.models import TABLES, Base
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.layers.errors import (
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerTimeout,
    LayerUnavailable,
)

PLUS_TWO = timezone(timedelta(hours=2))
T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=PLUS_TWO)


def operation(n: int, **overrides: object) -> dict:
    row = {
        "id": f"00000000-0000-0000-0000-{n:012d}",
        "user_wallet_address": f"wallet{n}",
        "level": "Gold",
        "source_image_path": "assets/images/Gold.png",
        "status": "COMPLETED",
        "transaction_signature": f"sig{n}",
        "mint_address": f"mint{n}",
        "metadata_uri": f"ipfs://meta{n}",
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=n),
    }
    return row | overrides


@pytest.fixture
def client(db_url: str) -> Iterator[DatabaseClient]:
    migrate(db_url)
    with DatabaseClient(db_url) as db:
        yield db


def test_migrate_from_empty_then_idempotent(db_url: str) -> None:
    assert current_revision(db_url) is None
    migrate(db_url)
    assert current_revision(db_url) == head_revision()
    assert head_revision() >= "0003"  # the chain 0001 -> 0002 (repairs) -> 0003 (automation)
    with DatabaseClient(db_url) as db:
        db.insert_minting_operations([operation(1)])
    migrate(db_url)  # a second run changes nothing and keeps the data
    assert current_revision(db_url) == head_revision()
    engine = create_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == set(TABLES) | {VERSION_TABLE}
    finally:
        engine.dispose()
    with DatabaseClient(db_url) as db:
        assert db.read_minting_operations()["id"].tolist() == [operation(1)["id"]]


def test_migrated_schema_equals_models(db_url: str) -> None:
    migrate(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_round_trip_with_timezone_aware_timestamps(client: DatabaseClient) -> None:
    rows = [operation(n) for n in range(1, 4)]
    rows[2] |= {"status": "PENDING", "mint_address": None, "verified_at": None}
    assert client.insert_minting_operations(rows) == 3
    frame = client.read_minting_operations()
    assert list(frame.columns) == [c.name for c in TABLES["minting_operations"].columns]
    assert frame["id"].tolist() == [r["id"] for r in rows]
    for column in ("created_at", "updated_at", "verified_at"):
        assert str(frame[column].dtype) == "datetime64[us, UTC]"
    assert frame.loc[0, "created_at"] == pd.Timestamp("2025-03-01 10:30:15.123456", tz="UTC")
    assert frame.loc[1, "updated_at"].to_pydatetime() == T0 + timedelta(minutes=2)
    assert frame["status"].tolist() == ["COMPLETED", "COMPLETED", "PENDING"]
    assert frame["retry_count"].tolist() == [0, 0, 0]
    assert frame["verified_at"].isna().all()


def test_read_filters_and_chunks(db_url: str) -> None:
    migrate(db_url)
    with DatabaseClient(db_url, chunk_rows=7) as db:
        db.insert_minting_operations([operation(n) for n in range(1, 1201)])
        assert len(db.read_minting_operations()) == 1200
        recent = db.read_minting_operations(updated_since=T0 + timedelta(minutes=1190))
        assert recent["id"].tolist() == [operation(n)["id"] for n in range(1190, 1201)]
        wanted = [operation(n)["id"] for n in range(1, 1201, 2)] + ["not-there"]  # > one IN chunk
        assert len(db.read_minting_operations(ids=wanted)) == 600


def test_empty_read_has_columns_and_types(client: DatabaseClient) -> None:
    frame = client.read_minting_operations()
    assert frame.empty and list(frame.columns) == [c.name for c in TABLES["minting_operations"].columns]
    assert str(frame["updated_at"].dtype) == "datetime64[us, UTC]"


def test_rows_from_a_frame_store_missing_values_as_null(client: DatabaseClient) -> None:
    frame = pd.DataFrame([operation(1, verified_at=T0), operation(2, mint_address=None)])
    client.insert_minting_operations(frame.to_dict("records"))  # NaN and NaT where values are missing
    back = client.read_minting_operations()
    assert back["mint_address"].isna().tolist() == [False, True]
    assert back["verified_at"].isna().tolist() == [False, True]
    finding = {"check_id": "X", "entity_type": "nft", "entity_id": "m", "layers": ["ipfs"], "status": "unknown"}
    client.write_findings(
        "r", [finding | {"severity": "info", "truth": float("nan"), "details": {"ratio": float("nan")}}]
    )
    stored = client.read_findings(run_id="r")
    assert stored.loc[0, "details"] == {"ratio": None} and stored.loc[0, "truth"] is None


def test_naive_datetime_and_unknown_column_refused(client: DatabaseClient) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        client.insert_minting_operations([operation(1, created_at=datetime(2025, 1, 1))])
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['colour'\] for table minting_operations"):
        client.insert_minting_operations([operation(1, colour="red")])


def test_check_constraint_rejects_bad_status(client: DatabaseClient) -> None:
    with pytest.raises(LayerDataError, match="ck_minting_operations_minting_status") as caught:
        client.insert_minting_operations([operation(1, status="BOGUS")])
    assert caught.value.layer == "database"
    engine = create_engine(client.url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO minting_operations (id, user_wallet_address, level, source_image_path, status)"
                    " VALUES ('x', 'w', 'Gold', 'p', 'NOT_A_STATUS')"
                )
            )
    finally:
        engine.dispose()
    assert client.read_minting_operations().empty


def test_foreign_key_enforced(client: DatabaseClient) -> None:
    check = {"operation_id": "no-such-operation", "check_type": "BLOCKCHAIN", "status": "FAILED"}
    with pytest.raises(LayerDataError, match="refused the statement"):
        client.write_consistency_checks([check])


def test_consistency_checks_by_run(client: DatabaseClient) -> None:
    client.insert_minting_operations([operation(1)])
    base = {"check_type": "IPFS", "status": "UNKNOWN", "details": {"gateway": "down"}}
    client.write_consistency_checks(
        [base | {"run_id": "r1", "operation_id": operation(1)["id"]}, base | {"run_id": "r2", "status": "PASSED"}]
    )
    assert len(client.read_consistency_checks()) == 2
    only = client.read_consistency_checks(run_id="r1")
    assert only["status"].tolist() == ["UNKNOWN"] and only.loc[0, "details"] == {"gateway": "down"}
    assert only.loc[0, "checked_at"].tzinfo is not None


def test_findings_are_replaced_per_run(client: DatabaseClient) -> None:
    finding = {
        "check_id": "CHAIN_URI_MISMATCH",
        "entity_type": "nft",
        "entity_id": "mint1",
        "layers": ("solana", "database"),
        "status": "fail",
        "severity": "warning",
        "truth": "solana",
        "repair": "DB_FROM_CHAIN",
        "details": {"count": pd.Series([3]).iloc[0]},  # numpy scalar: stored as JSON
    }
    client.write_findings("run-1", [finding, finding | {"entity_id": "mint2"}])
    client.write_findings("run-1", [finding])
    client.write_findings("run-2", [finding | {"status": "unknown"}])
    frame = client.read_findings(run_id="run-1")
    assert frame["entity_id"].tolist() == ["mint1"]
    assert frame.loc[0, "layers"] == ["solana", "database"] and frame.loc[0, "details"] == {"count": 3}
    assert len(client.read_findings()) == 2
    with pytest.raises(LayerDataError):
        client.write_findings("run-3", [finding | {"severity": "catastrophic"}])


def test_registry_upsert_and_run_history(client: DatabaseClient) -> None:
    client.upsert_registry([{"level": "Gold", "file_path": "assets/images/Gold.png", "file_hash": "a" * 64}])
    cid = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
    client.upsert_registry([{"level": "Gold", "file_path": "assets/images/Gold.png", "ipfs_hash": cid}])
    client.upsert_registry([{"level": "Silver", "file_path": "assets/images/Silver.png", "file_hash": "b" * 64}])
    registry = client.read_source_image_registry()
    assert registry["level"].tolist() == ["Gold", "Silver"]
    assert registry.loc[0, "file_hash"] == "a" * 64 and registry.loc[0, "ipfs_hash"] == cid
    assert registry.loc[0, "last_verified"].tzinfo is not None

    started = datetime(2025, 3, 1, tzinfo=UTC)
    client.record_run("run-1", cadence="deep", started_at=started, status="running")
    client.record_run(
        "run-1", cadence="deep", started_at=started, status="success", finished_at=started + timedelta(minutes=3)
    )
    history = client.read_run_history()
    assert history["status"].tolist() == ["success"]
    assert history.loc[0, "finished_at"] == pd.Timestamp("2025-03-01 00:03", tz="UTC")


def test_missing_tables_is_a_data_error_with_hint(db_url: str) -> None:
    path = make_url(db_url).database
    if db_url.startswith("sqlite"):
        Path(path).parent.mkdir(parents=True)
    create_engine(db_url).connect().close()  # the database exists, never migrated
    with DatabaseClient(db_url) as db:
        db.ping()
        with pytest.raises(LayerDataError, match="run migrations first") as caught:
            db.read_minting_operations()
    assert not isinstance(caught.value, LayerUnavailable)


def test_missing_sqlite_file_is_unavailable_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    with pytest.raises(LayerConnectError, match="SQLite file not found"):
        DatabaseClient(f"sqlite:///{path}").read_source_image_registry()
    assert not path.exists()


def test_unopenable_sqlite_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-folder.db").mkdir()
    with pytest.raises(LayerConnectError, match="cannot reach the database"):
        DatabaseClient(f"sqlite:///{tmp_path / 'a-folder.db'}").ping()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_never_shows_the_password() -> None:
    url = f"postgresql+psycopg2://reader:s3cret-Pw@127.0.0.1:{_closed_port()}/platform"
    with pytest.raises(LayerConnectError) as caught:
        DatabaseClient(url, connect_timeout_s=2).read_minting_operations()
    message = str(caught.value)
    assert "s3cret-Pw" not in message and "s3cret-Pw" not in repr(caught.value.args)
    assert caught.value.layer == "database" and caught.value.where.startswith("postgresql+psycopg2://reader:***@")
    assert "refused" in message.lower()
    with pytest.raises(LayerConnectError) as caught:
        migrate(url)
    assert "s3cret-Pw" not in str(caught.value)


def test_silent_server_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    url = f"postgresql+psycopg2://reader:pw@127.0.0.1:{listener.getsockname()[1]}/platform"
    try:
        with pytest.raises(LayerTimeout, match="timed out"):
            DatabaseClient(url, connect_timeout_s=1).ping()
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.mark.postgres
def test_unknown_role_is_an_auth_error(pg_db_url: str) -> None:
    url = make_url(pg_db_url).set(username="nobody_here", password="hunter2-secret")
    with pytest.raises(LayerAuthError) as caught:
        DatabaseClient(url.render_as_string(hide_password=False)).ping()
    assert "hunter2-secret" not in str(caught.value)


def test_bad_url_is_a_value_error_without_the_url() -> None:
    with pytest.raises(ValueError, match="invalid database URL") as caught:
        DatabaseClient("not a url :: with password hunter2")
    assert "hunter2" not in str(caught.value)


def test_a_shard_read_streams_the_table_and_keeps_only_its_rows(db_url: str) -> None:
    from reconcile_pipeline.sandbox.ledger import new_pubkey
    from reconcile_pipeline.shards import all_shards, operation_byte

    migrate(db_url)
    rows = [operation(n, mint_address=new_pubkey(f"m{n}".encode()), user_wallet_address=f"w{n}") for n in range(30)]
    rows[5]["mint_address"] = None  # no mint: placed by its id
    rows[6]["mint_address"] = "not-a-key"
    twins = [operation(40 + k, user_wallet_address="w-twin", mint_address=new_pubkey(f"t{k}".encode())) for k in (0, 1)]
    pending = operation(50, user_wallet_address="w-twin", status="PENDING", mint_address=new_pubkey(b"p"))
    with DatabaseClient(db_url, chunk_rows=4) as db:  # many chunks: the filter runs chunk by chunk
        db.insert_minting_operations([*rows, *twins, pending])
        assert db.count_minting_operations() == 33
        statuses = ("COMPLETED",)
        anchors = db.duplicate_group_anchors(statuses)
        assert anchors == {("w-twin", "Gold"): operation_byte(twins[0]["mint_address"], twins[0]["id"])}
        reads = {shard: db.read_minting_operations(shard=shard, group_statuses=statuses) for shard in all_shards(4)}
    ids = [i for frame in reads.values() for i in frame["id"]]
    assert sorted(ids) == sorted(r["id"] for r in [*rows, *twins, pending])  # each row in exactly one shard
    for shard, frame in reads.items():
        for row in frame.itertuples():
            twin = row.user_wallet_address == "w-twin" and row.status == "COMPLETED"
            placed = anchors[("w-twin", "Gold")] if twin else operation_byte(row.mint_address, row.id)
            assert shard.holds(placed)
        assert str(frame["updated_at"].dtype) == "datetime64[us, UTC]"
    together = [shard for shard, frame in reads.items() if set(frame["id"]) >= {twins[0]["id"], twins[1]["id"]}]
    assert len(together) == 1  # the duplicate group stays whole
    assert len(reads) == 4
