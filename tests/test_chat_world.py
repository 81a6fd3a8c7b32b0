"""The CHAT record set of the local world: every injected fault gives exactly its manifest findings, a clean set
none, and a copy that cannot be read gives unknown findings, never failures. SQLite replicas, and PostgreSQL
replicas fed by logical replication."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from reconcile_pipeline.checks.chat import chat_findings
from reconcile_pipeline.sandbox.chat_world import CHAT_FAULTS, ChatSpec, ChatWorld
from reconcile_pipeline.sandbox.postgres import ThrowawayCluster, create_database, server_bin_dir
from reconcile_pipeline.snapshots.chat import read_chat


def keys(findings: list[dict], status: str = "fail") -> set[tuple[str, str, str]]:
    return {(f["check_id"], f["entity_type"], f["entity_id"]) for f in findings if f["status"] == status}


def expected(world: ChatWorld) -> set[tuple[str, str, str]]:
    return {(e["check_id"], e["entity_type"], e["entity_id"]) for f in world.faults for e in f["expected_findings"]}


def judge(world: ChatWorld) -> list[dict]:
    settings = world.settings_document()
    snapshot = read_chat(settings["primary_url"], settings["replicas"], settings["backup_nodes"])
    return chat_findings(snapshot, now=datetime.now(UTC), max_backup_age_s=3600)


@pytest.fixture
def sqlite_world(tmp_path, request) -> Iterator[ChatWorld]:  # noqa: ANN001
    faults = getattr(request, "param", list(CHAT_FAULTS))
    world = ChatWorld(ChatSpec(faults=faults), tmp_path, f"sqlite:///{tmp_path / 'world.db'}").start()
    yield world
    world.stop()


def test_every_fault_gives_exactly_its_findings(sqlite_world: ChatWorld) -> None:
    findings = judge(sqlite_world)
    assert len(sqlite_world.faults) == len(CHAT_FAULTS)
    assert keys(findings) == expected(sqlite_world) and keys(findings, "unknown") == set()
    chain = next(f for f in findings if f["check_id"] == "HASH_CHAIN_BROKEN")
    assert chain["details"]["affected_count"] == 32  # seq 32..63 (60 records + 3 the lagging replica lacks), once
    incomplete = next(f for f in findings if f["check_id"] == "BACKUP_INCOMPLETE")
    assert incomplete["details"]["missing_ids"] == ["chat-000005", "chat-000040"]


@pytest.mark.parametrize("sqlite_world", [[]], indirect=True)
def test_a_clean_set_gives_nothing(sqlite_world: ChatWorld) -> None:
    assert judge(sqlite_world) == []


def test_unreadable_copies_are_unknown_never_failed(sqlite_world: ChatWorld) -> None:
    sqlite_world.nodes["backup-2"].faults.arm("down")
    settings = sqlite_world.settings_document()
    settings["replicas"]["replica-1"] = f"sqlite:///{sqlite_world.directory / 'gone' / 'r.db'}"
    findings = chat_findings(read_chat(settings["primary_url"], settings["replicas"], settings["backup_nodes"]),
                             now=datetime.now(UTC), max_backup_age_s=3600)  # fmt: skip
    unknown = keys(findings, "unknown")
    assert {("BACKUP_STALE", "backup_node", "backup-2"), ("REPLICA_ROW_MISSING", "replica", "replica-1")} <= unknown
    failed = keys(findings)
    assert not {k for k in failed if k[2].startswith("replica-1") or k[2] == "backup-2"}
    assert ("REPLICA_ROW_DIFFERENT", "replica_row", "replica-2:chat-000020") in failed


@pytest.mark.postgres
def test_postgres_replicas_fed_by_logical_replication(tmp_path) -> None:  # noqa: ANN001
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries")
    primary = ThrowawayCluster(bin_dir, {"wal_level": "logical"})
    try:
        server = make_url(primary.start())
        create_database(server.render_as_string(hide_password=False), "platform")
        url = server.set(database="platform").render_as_string(hide_password=False)
        world = ChatWorld(ChatSpec(faults=list(CHAT_FAULTS)), tmp_path, url).start()
        try:
            assert all(u.startswith("postgresql") for u in world.replica_urls.values())
            findings = judge(world)
            assert keys(findings) == expected(world) and keys(findings, "unknown") == set()
        finally:
            world.stop()
    finally:
        primary.stop()
