"""A local backup node (seed 003) serving the backup-node API of ``layers/backup_node.py`` on loopback.

It holds a copy of the CHAT records' (id, seq, hash) and the time of its last sync. Faults for tests and the
world, made on the node's own copy: :meth:`BackupNodeServer.forget` (records missing), ``last_sync`` set in
the past (a stale node), ``corrupt_proofs`` (audit paths whose sibling hashes are altered).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from ..layers.chat_records import ChainRecord, MerkleTree, completeness_digest, merkle_leaf
from .httpserver import LoopbackServer, Request, Response

MAX_LISTING = 1000
MAX_PROOF_IDS = 100


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status)


class BackupNodeServer(LoopbackServer):
    name = "backup-node"

    def __init__(self, node: str, records: list[ChainRecord] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        super().__init__(host, port)
        self.node = node
        self.rows: list[tuple[str, int, str]] = []
        self.last_sync = datetime.now(UTC)
        self.corrupt_proofs = False
        self._lock = threading.Lock()
        if records:
            self.sync(records)

    def __repr__(self) -> str:
        return f"BackupNodeServer({self.node}, {self.url})"

    def sync(self, records: list[ChainRecord], at: datetime | None = None) -> None:
        with self._lock:
            self.rows = sorted(((r.id, r.seq, r.hash) for r in records), key=lambda row: row[1])
            self.last_sync = at or datetime.now(UTC)

    def forget(self, ids: set[str]) -> None:
        with self._lock:
            self.rows = [row for row in self.rows if row[0] not in ids]

    def _through(self, through_seq: int) -> list[tuple[str, int, str]]:
        with self._lock:
            return [row for row in self.rows if row[1] <= through_seq]

    def route(self, request: Request) -> Response:
        handlers = {
            ("GET", "/v1/status"): self._status,
            ("GET", "/v1/digest"): self._digest,
            ("GET", "/v1/records"): self._records,
            ("POST", "/v1/proofs"): self._proofs,
        }
        handler = handlers.get((request.method, request.path))
        return handler(request) if handler else _error(404, "no such route")

    def _status(self, request: Request) -> Response:
        with self._lock:
            rows, last_sync = list(self.rows), self.last_sync
        return Response.json({"node": self.node, "last_sync": last_sync.isoformat().replace("+00:00", "Z"),
                              "records": len(rows), "through_seq": rows[-1][1] if rows else 0})  # fmt: skip

    def _digest(self, request: Request) -> Response:
        through = request.arg("through_seq", "")
        if not (through or "").isdigit():
            return _error(400, "through_seq must be a number")
        rows = self._through(int(through))
        digest = completeness_digest(row[2] for row in rows)
        return Response.json({"digest": digest, "records": len(rows), "through_seq": int(through)})

    def _records(self, request: Request) -> Response:
        after, limit = request.arg("after_seq", "0") or "", request.arg("limit", str(MAX_LISTING)) or ""
        if not after.isdigit() or not limit.isdigit() or not 1 <= int(limit) <= MAX_LISTING:
            return _error(400, "after_seq and limit (1..1000) must be numbers")
        with self._lock:
            page = [row for row in self.rows if row[1] > int(after)][: int(limit)]
        following = page[-1][1] if len(page) == int(limit) else None
        return Response.json({"records": [{"id": i, "seq": s, "hash": h} for i, s, h in page],
                              "next_after_seq": following})  # fmt: skip

    def _proofs(self, request: Request) -> Response:
        try:
            body = json.loads(request.body)
            ids, through = list(body["ids"]), int(body["through_seq"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "body must be {ids: [...], through_seq: N}")
        if len(ids) > MAX_PROOF_IDS:
            return _error(400, f"at most {MAX_PROOF_IDS} ids")
        rows = self._through(through)
        tree = MerkleTree([merkle_leaf(row[2]) for row in rows])
        index = {row[0]: i for i, row in enumerate(rows)}
        proofs = [self._proof(tree, rows, index[i], i) for i in ids if i in index]
        return Response.json({"through_seq": through, "leaves": len(rows), "root": tree.root.hex(),
                              "proofs": proofs, "unknown_ids": [i for i in ids if i not in index]})  # fmt: skip

    def _proof(self, tree: MerkleTree, rows: list, position: int, record_id: str) -> dict:
        path = [{"side": step.side, "hash": step.hash.hex()} for step in tree.proof(position)]
        if self.corrupt_proofs and path:
            path[0]["hash"] = ("0" if path[0]["hash"][0] != "0" else "1") + path[0]["hash"][1:]
        return {"id": record_id, "index": position, "hash": rows[position][2], "path": path}
