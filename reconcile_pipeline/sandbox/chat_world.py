"""The local world's CHAT record set (seed 003): a primary table, its replicas and backup nodes, with faults.

:class:`ChatWorld` writes ``chat_records`` (a hash chain of ``ChatSpec.records`` records) into the primary
database, then its replicas: SQLite files beside it when the primary is SQLite; PostgreSQL clusters on loopback
fed by logical replication when the primary is PostgreSQL (its cluster needs ``wal_level = logical``). It starts
``ChatSpec.backup_nodes`` backup nodes synced with the primary. Faults are made the way they happen, each
through the store's own protocol, and each is written to the manifest with the findings it must produce:

=====================  ==================================================================  ========================
fault                  made by                                                             expected finding
=====================  ==================================================================  ========================
REPLICA_ROW_MISSING    ``DELETE`` of one row on replica 1                                  replica_row replica-1:ID
REPLICA_ROW_EXTRA      ``INSERT`` of a row the primary lacks on replica 1                  replica_row replica-1:ID
REPLICA_ROW_DIFFERENT  ``UPDATE`` of one column on the last replica                        replica_row replica-N:ID
REPLICA_LAG            records written on the primary after the last replica stopped       replica replica-N
                       (its subscription disabled, or its copy taken before them)
HASH_CHAIN_BROKEN      one record's data changed on the primary (and so on every replica)  chat_record ID
BACKUP_INCOMPLETE      backup node 1 forgets two records                                   backup_node backup-1
BACKUP_STALE           backup node 2's last sync three hours ago                           backup_node backup-2
BACKUP_PROOF_INVALID   backup node 3 serves altered audit paths                            backup_node backup-3
=====================  ==================================================================  ========================
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from ..layers.chat_records import ChainRecord, build_chain, canonical_data
from ..layers.replicas import CHAT_RECORDS, chat_records_table, create_chat_records
from . import replication
from .backup_node import BackupNodeServer
from .postgres import ThrowawayCluster, create_database, server_bin_dir

CHAT_FAULTS: tuple[str, ...] = (
    "REPLICA_ROW_MISSING", "REPLICA_ROW_EXTRA", "REPLICA_ROW_DIFFERENT", "REPLICA_LAG",
    "HASH_CHAIN_BROKEN", "BACKUP_INCOMPLETE", "BACKUP_STALE", "BACKUP_PROOF_INVALID",
)  # fmt: skip
KINDS = ("mint", "resale", "royalty", "transfer")
LAGGING_RECORDS = 3
PUBLICATION = "chat_records_pub"


@dataclass
class ChatSpec:
    records: int = 60
    replicas: int = 2
    backup_nodes: int = 3
    seed: int = 7
    faults: list[str] = field(default_factory=list)


def _subscription(replica: str) -> str:
    return "chat_sub_" + replica.replace("-", "_")


def _finding(check_id: str, entity_type: str, entity_id: str) -> dict:
    return {"check_id": check_id, "entity_type": entity_type, "entity_id": entity_id}


def chat_chain(spec: ChatSpec, start: int = 0, count: int | None = None) -> list[ChainRecord]:
    rng = random.Random(spec.seed)
    items = [(f"chat-{i:06d}", {"kind": KINDS[i % 4], "from": f"wallet-{rng.randrange(97)}",
                                "to": f"wallet-{rng.randrange(97)}", "amount": rng.randrange(1, 10**6)})
             for i in range(start + (spec.records if count is None else count))]  # fmt: skip
    return build_chain(items)[start:]


def _rows(records: list[ChainRecord], now: datetime) -> list[dict]:
    out = []
    for record in records:
        stamp = (now - timedelta(seconds=10 * (10_000 - record.seq))).isoformat()
        kind = KINDS[(record.seq - 1) % 4]
        out.append({"id": record.id, "seq": record.seq, "kind": kind, "data": record.data,
                    "prev_hash": record.prev_hash, "hash": record.hash, "created_at": stamp,
                    "updated_at": stamp})  # fmt: skip
    return out


class ChatWorld:
    def __init__(self, spec: ChatSpec, directory: str | Path, primary_url: str) -> None:
        if spec.replicas < 1 or spec.backup_nodes < 1:
            raise ValueError("the CHAT world needs at least one replica and one backup node")
        self.spec, self.directory, self.primary_url = spec, Path(directory), primary_url
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.replica_urls: dict[str, str] = {}
        self.nodes: dict[str, BackupNodeServer] = {}
        self.faults: list[dict] = []
        self._clusters: list[ThrowawayCluster] = []
        self._subscribed: list[tuple[str, str]] = []  # (replica URL, subscription name)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> ChatWorld:
        try:
            records = chat_chain(self.spec)
            self._write_primary(records)
            self._start_replicas()
            self._start_nodes(records)
            self._inject(records)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        self.nodes.clear()
        for url, subscription in self._subscribed:
            replication.unsubscribe(url, subscription)
        self._subscribed.clear()
        for cluster in self._clusters:
            cluster.stop()
        self._clusters.clear()

    @property
    def on_postgres(self) -> bool:
        return make_url(self.primary_url).get_backend_name() == "postgresql"

    def settings_document(self) -> dict:
        return {"primary_url": self.primary_url, "replicas": dict(self.replica_urls),
                "backup_nodes": {name: node.url for name, node in self.nodes.items()}}  # fmt: skip

    # -- building -------------------------------------------------------------------------------
    def _write_primary(self, records: list[ChainRecord]) -> None:
        engine = create_engine(self.primary_url)
        try:
            create_chat_records(engine)
            with engine.begin() as connection:
                connection.execute(insert(chat_records_table), _rows(records, self.now))
        finally:
            engine.dispose()

    def _start_replicas(self) -> None:
        names = [f"replica-{i + 1}" for i in range(self.spec.replicas)]
        if not self.on_postgres:
            for name in names:
                self.replica_urls[name] = self._sqlite_copy(name)
            return
        self._require_logical()
        replication.publish(self.primary_url, PUBLICATION, ("chat_records",))
        for name in names:
            self.replica_urls[name] = self._subscribed_cluster(_subscription(name))
        for url in self.replica_urls.values():
            replication.wait_caught_up(self.primary_url, url, CHAT_RECORDS)

    def _sqlite_copy(self, name: str) -> str:
        url = f"sqlite:///{self.directory / f'{name}.db'}"
        source, target = create_engine(self.primary_url), create_engine(url)
        try:
            create_chat_records(target)
            with source.connect() as read, target.begin() as write:
                rows = [dict(r._mapping) for r in read.execute(chat_records_table.select())]
                write.execute(chat_records_table.delete())
                if rows:
                    write.execute(insert(chat_records_table), rows)
        finally:
            source.dispose(), target.dispose()
        return url

    def _require_logical(self) -> None:
        engine = create_engine(self.primary_url)
        try:
            with engine.connect() as connection:
                level = connection.execute(text("SHOW wal_level")).scalar_one()
        finally:
            engine.dispose()
        if level != "logical":
            raise RuntimeError(f"the primary's PostgreSQL server has wal_level = {level}: its replicas are fed "
                               "by logical replication, which needs wal_level = logical")  # fmt: skip

    def _subscribed_cluster(self, subscription: str) -> str:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL replicas need the server binaries (/usr/lib/postgresql/*/bin)")
        cluster = ThrowawayCluster(bin_dir)
        self._clusters.append(cluster)
        server = make_url(cluster.start())
        create_database(server.render_as_string(hide_password=False), "chat")
        url = server.set(database="chat").render_as_string(hide_password=False)
        engine = create_engine(url)
        try:
            create_chat_records(engine)
        finally:
            engine.dispose()
        replication.subscribe(url, self.primary_url, subscription, PUBLICATION)
        self._subscribed.append((url, subscription))
        return url

    def _start_nodes(self, records: list[ChainRecord]) -> None:
        for i in range(self.spec.backup_nodes):
            name = f"backup-{i + 1}"
            self.nodes[name] = BackupNodeServer(name, records).start()

    # -- faults ---------------------------------------------------------------------------------
    def _sql(self, url: str, statement: str, params: dict | None = None) -> None:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text(statement), params or {})
        finally:
            engine.dispose()

    def _record(self, fault: str, description: str, findings: list[dict]) -> None:
        self.faults.append({"fault": fault, "description": description, "expected_findings": findings})

    def _inject(self, records: list[ChainRecord]) -> None:
        faults = set(self.spec.faults)
        if "HASH_CHAIN_BROKEN" in faults:  # first: these two wait for replication to agree
            self._break_chain(records[30])
        if "REPLICA_LAG" in faults:
            self._lag(list(self.replica_urls)[-1])
        self._inject_rows(faults, records)
        self._inject_nodes(faults, records)

    def _inject_rows(self, faults: set[str], records: list[ChainRecord]) -> None:
        names = list(self.replica_urls)
        first, last = names[0], names[-1]
        if "REPLICA_ROW_MISSING" in faults:
            victim = records[10]
            self._sql(self.replica_urls[first], "DELETE FROM chat_records WHERE id = :id", {"id": victim.id})
            self._record("REPLICA_ROW_MISSING", f"{victim.id} deleted on {first}",
                         [_finding("REPLICA_ROW_MISSING", "replica_row", f"{first}:{victim.id}")])  # fmt: skip
        if "REPLICA_ROW_EXTRA" in faults:
            ghost, old = "chat-ghost-1", (self.now - timedelta(days=30)).isoformat()
            self._sql(self.replica_urls[first], "INSERT INTO chat_records VALUES (:id, 1000000, 'transfer', '{}', "
                      "'', :h, :t, :t)", {"id": ghost, "h": "0" * 64, "t": old})  # fmt: skip
            self._record("REPLICA_ROW_EXTRA", f"{ghost} inserted on {first} only",
                         [_finding("REPLICA_ROW_EXTRA", "replica_row", f"{first}:{ghost}")])  # fmt: skip
        if "REPLICA_ROW_DIFFERENT" in faults:
            victim, change = records[20], "UPDATE chat_records SET kind = 'refund' WHERE id = :id"
            self._sql(self.replica_urls[last], change, {"id": victim.id})
            self._record("REPLICA_ROW_DIFFERENT", f"{victim.id}'s kind changed on {last}",
                         [_finding("REPLICA_ROW_DIFFERENT", "replica_row", f"{last}:{victim.id}")])  # fmt: skip

    def _break_chain(self, victim: ChainRecord) -> None:
        """Change one record's data after the fact, everywhere (the platform's own data was rewritten)."""
        data = canonical_data({"tampered": True, "was": victim.data})
        for url in [self.primary_url, *([] if self.on_postgres else self.replica_urls.values())]:
            self._sql(url, "UPDATE chat_records SET data = :d WHERE id = :id", {"d": data, "id": victim.id})
        if self.on_postgres:
            for url in self.replica_urls.values():
                replication.wait_caught_up(self.primary_url, url, CHAT_RECORDS)
        self._record("HASH_CHAIN_BROKEN", f"{victim.id}'s data changed after its hash was written",
                     [_finding("HASH_CHAIN_BROKEN", "chat_record", victim.id)])  # fmt: skip

    def _lag(self, name: str) -> None:
        """The last replica stops applying changes; then the primary writes more records."""
        url = self.replica_urls[name]
        if self.on_postgres:
            replication.pause(url, _subscription(name))
        newer = chat_chain(self.spec, start=self.spec.records, count=LAGGING_RECORDS)
        later = self.now + timedelta(seconds=5)
        rows = [r | {"created_at": later.isoformat(), "updated_at": later.isoformat()} for r in _rows(newer, later)]
        engine = create_engine(self.primary_url)
        try:
            with engine.begin() as connection:
                connection.execute(insert(chat_records_table), rows)
        finally:
            engine.dispose()
        for other, other_url in self.replica_urls.items():  # the healthy replicas get them
            if other == name:
                continue
            if self.on_postgres:
                replication.wait_caught_up(self.primary_url, other_url, CHAT_RECORDS)
                continue
            engine = create_engine(other_url)
            try:
                with engine.begin() as connection:
                    connection.execute(insert(chat_records_table), rows)
            finally:
                engine.dispose()
        self._record("REPLICA_LAG", f"{name} stopped before the last {LAGGING_RECORDS} records",
                     [_finding("REPLICA_LAG", "replica", name)])  # fmt: skip

    def _inject_nodes(self, faults: set[str], records: list[ChainRecord]) -> None:
        nodes = list(self.nodes.values())
        if "BACKUP_INCOMPLETE" in faults:
            node = nodes[0]
            node.forget({records[5].id, records[40].id})
            self._record("BACKUP_INCOMPLETE", f"{node.node} lost {records[5].id} and {records[40].id}",
                         [_finding("BACKUP_INCOMPLETE", "backup_node", node.node)])  # fmt: skip
        if "BACKUP_STALE" in faults:
            node = nodes[min(1, len(nodes) - 1)]
            node.last_sync = self.now - timedelta(hours=3)
            self._record("BACKUP_STALE", f"{node.node} last synced three hours ago",
                         [_finding("BACKUP_STALE", "backup_node", node.node)])  # fmt: skip
        if "BACKUP_PROOF_INVALID" in faults:
            node = nodes[min(2, len(nodes) - 1)]
            node.corrupt_proofs = True
            self._record("BACKUP_PROOF_INVALID", f"{node.node} serves altered audit paths",
                         [_finding("BACKUP_PROOF_INVALID", "backup_node", node.node)])  # fmt: skip
