"""Test kit: the platform's own writer, by hand, through each layer's protocol: consistent events on a live world.

SQL UPDATE/INSERT on ``minting_operations`` (SQLAlchemy), the Cloudflare KV REST API (httpx PUT), S3 with boto3
(R2's ``blocks/N.json`` and ``pending/ID.json``), Pinata's ``pinFileToIPFS`` (the gateways serve what it stores).
Every event leaves the world consistent, written in seed 004's order (R2 and IPFS first, then the KV block, its
``vdc:tx`` entries and ``vdc:latest``; a pending transaction mined leaves the queue and the count follows), so a
reconciliation of any cadence must find nothing. No import of the project's layer clients: the writer is not the
reader under test.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import boto3
import httpx
from sqlalchemy import create_engine, text

from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.sandbox.nft_world import PINATA_GATEWAY
from reconcile_pipeline.settings import Settings

CONFIRMED_LATER = ("VERIFIED", "COMPLETED")  # a confirmed operation may be (re)verified or completed
PRE_CHAIN_STEPS = ("PENDING", "SOURCE_READ")  # an operation in progress: no mint, no content yet
LEVELS = ("Bronze", "Silver", "Gold", "Platinum")


@dataclass
class WorldWriter:
    settings: Settings
    rng: random.Random
    log: list[str] = field(default_factory=list)  # what was done, for a failing assertion's message
    new_ops: list[str] = field(default_factory=list)  # operations inserted (still before the chain)
    mined: list[int] = field(default_factory=list)  # block numbers written
    touched: list[tuple[str, str]] = field(default_factory=list)  # (operation id, the confirmed state it was moved to)

    def __post_init__(self) -> None:
        bs = self.settings.blockstore
        self._kv_base = f"{bs.kv_api_url.rstrip('/')}/accounts/{bs.kv_account_id}/storage/kv/namespaces/" \
                        f"{bs.kv_namespace_id}/values/"  # fmt: skip
        self._kv_headers = {"Authorization": f"Bearer {bs.kv_api_token.get_secret_value()}"}
        self._s3 = boto3.client(
            "s3", endpoint_url=bs.r2_endpoint_url, region_name="us-east-1",
            aws_access_key_id=bs.r2_access_key_id.get_secret_value(),
            aws_secret_access_key=bs.r2_secret_access_key.get_secret_value(),
        )  # fmt: skip
        self._engine = create_engine(self.settings.database.url.get_secret_value())

    def close(self) -> None:
        self._engine.dispose()

    # -- the layers' protocols ------------------------------------------------------------------
    def kv_get(self, key: str) -> bytes | None:
        answer = httpx.get(self._kv_base + quote(key, safe=""), headers=self._kv_headers)
        return None if answer.status_code == 404 else answer.raise_for_status().content

    def kv_put(self, key: str, value: bytes) -> None:
        httpx.put(self._kv_base + quote(key, safe=""), content=value, headers=self._kv_headers).raise_for_status()

    def r2_put(self, key: str, value: bytes) -> None:
        self._s3.put_object(Bucket=self.settings.blockstore.r2_bucket, Key=key, Body=value)

    def r2_delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.settings.blockstore.r2_bucket, Key=key)

    def r2_keys(self, prefix: str) -> list[str]:
        answer = self._s3.list_objects_v2(Bucket=self.settings.blockstore.r2_bucket, Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def r2_get(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.settings.blockstore.r2_bucket, Key=key)["Body"].read()

    def pin(self, data: bytes, name: str) -> str:
        pinata = self.settings.pinata
        answer = httpx.post(
            f"{pinata.api_url.rstrip('/')}/pinning/pinFileToIPFS",
            headers={"Authorization": f"Bearer {pinata.jwt.get_secret_value()}"},
            files={"file": (name, data)},
            data={"pinataMetadata": json.dumps({"name": name}), "pinataOptions": json.dumps({"cidVersion": 0})},
        )
        return answer.raise_for_status().json()["IpfsHash"]

    def sql(self, statement: str, **params: object) -> list:
        with self._engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else []

    # -- events ---------------------------------------------------------------------------------
    def touch_operation(self) -> None:
        """A confirmed operation moves to a later confirmed state: VERIFIED or COMPLETED, updated and verified now."""
        ids = [row[0] for row in self.sql("SELECT id FROM minting_operations WHERE status IN "
                                          "('BLOCKCHAIN_CONFIRMED', 'VERIFIED', 'COMPLETED') ORDER BY id")]  # fmt: skip
        op_id, status, now = self.rng.choice(ids), self.rng.choice(CONFIRMED_LATER), datetime.now(UTC)
        self.sql("UPDATE minting_operations SET status = :status, updated_at = :now, verified_at = :now "
                 "WHERE id = :id", status=status, now=now, id=op_id)  # fmt: skip
        self.touched.append((op_id, status))
        self.log.append(f"op {op_id} -> {status}")

    def insert_operation(self) -> None:
        """A user starts a mint: a new PENDING row, nothing on chain or IPFS yet."""
        op_id, now, level = str(uuid.uuid4()), datetime.now(UTC), self.rng.choice(LEVELS)
        self.sql(
            "INSERT INTO minting_operations (id, user_wallet_address, level, source_image_path, status, created_at, "
            "updated_at, retry_count) VALUES (:id, :wallet, :level, :path, 'PENDING', :now, :now, 0)",
            id=op_id, wallet=f"wallet-{op_id[:8]}", level=level, path=f"assets/images/{level}.png", now=now,
        )  # fmt: skip
        self.new_ops.append(op_id)
        self.log.append(f"op {op_id} inserted PENDING ({level})")

    def advance_operation(self) -> None:
        """An operation in progress reads its source image: PENDING -> SOURCE_READ (else a new one starts)."""
        pending = [op for op in self.new_ops if self._status(op) == "PENDING"]
        if not pending:
            return self.insert_operation()
        op_id = self.rng.choice(pending)
        self.sql("UPDATE minting_operations SET status = 'SOURCE_READ', updated_at = :now WHERE id = :id",
                 now=datetime.now(UTC), id=op_id)  # fmt: skip
        self.log.append(f"op {op_id} -> SOURCE_READ")
        return None

    def _status(self, op_id: str) -> str:
        return self.sql("SELECT status FROM minting_operations WHERE id = :id", id=op_id)[0][0]

    def add_pending(self) -> None:
        """A transaction is submitted: an encrypted ``pending/ID.json`` in R2, then the count (seed 004 phase 1)."""
        if len(self.r2_keys("pending/")) >= self.settings.blockstore.pending_backlog_max - 2:
            return self.mine_block()  # keep the queue under the backlog threshold (a true warning otherwise)
        tx = self._transaction(int(datetime.now(UTC).timestamp() * 1000))
        envelope = {"txId": tx["txId"], "timestamp": tx["timestamp"], "encrypted": True, "algorithm": "Kyber-768",
                    "ciphertext": base64.b64encode(fmt.canonical_json(tx)[::-1]).decode()}  # fmt: skip
        self.r2_put(fmt.r2_pending_key(tx["txId"]), fmt.canonical_json(envelope))
        self._write_count()
        self.log.append(f"pending {tx['txId']}")
        return None

    def mine_block(self) -> None:
        """The next block after ``vdc:latest``, with new transactions and some pending ones, persisted as seed 004
        does; the mined transactions leave the queue and the count follows."""
        pointer = json.loads(self.kv_get(fmt.LATEST_KEY))
        number, now_ms = pointer["blockNumber"] + 1, int(datetime.now(UTC).timestamp() * 1000)
        now_ms = max(now_ms, pointer["timestamp"] + 1)
        queued = self.r2_keys("pending/")
        taken = self.rng.sample(queued, k=min(len(queued), self.rng.randrange(3)))
        txs = [self._decrypt(self.r2_get(key)) for key in taken]
        txs += [self._transaction(now_ms + k) for k in range(1 + self.rng.randrange(3))]
        block = fmt.build_block(number, now_ms, pointer["hash"], txs)
        core = fmt.canonical_json(fmt.block_core(block))
        self.r2_put(fmt.r2_block_key(number), core)
        cid = self.pin(core, f"vdc-block-{number}.json")
        kv_block = fmt.block_core(block) | {"ipfsHash": cid, "ipfsGatewayUrl": f"{PINATA_GATEWAY}/ipfs/{cid}"}
        self.kv_put(fmt.block_key(number), fmt.canonical_json(kv_block))
        for tx in txs:
            entry = {"blockNumber": number, "blockHash": block["hash"], "timestamp": block["timestamp"]}
            self.kv_put(fmt.tx_key(tx["txId"]), fmt.canonical_json(entry))
        latest = {"blockNumber": number, "hash": block["hash"], "ipfsHash": cid, "timestamp": block["timestamp"]}
        self.kv_put(fmt.LATEST_KEY, fmt.canonical_json(latest))
        for key in taken:
            self.r2_delete(key)
        if taken:
            self._write_count()
        self.mined.append(number)
        self.log.append(f"block {number} ({len(txs)} txs, {len(taken)} from the queue)")

    def _transaction(self, timestamp: int) -> dict:
        bits = self.rng.getrandbits
        return {"txId": f"tx-{bits(64):016x}", "type": "document_payment", "timestamp": timestamp,
                "assetId": f"asset-{bits(48):012x}", "userId": f"user-{bits(32):08x}",
                "amount": self.rng.randrange(100, 10_000)}  # fmt: skip

    @staticmethod
    def _decrypt(raw: bytes) -> dict:
        return json.loads(base64.b64decode(json.loads(raw)["ciphertext"])[::-1])

    def _write_count(self) -> None:
        self.kv_put(fmt.PENDING_COUNT_KEY, str(len(self.r2_keys("pending/"))).encode())

    EVENTS = ("touch_operation", "insert_operation", "advance_operation", "add_pending", "mine_block")

    def random_event(self) -> None:
        getattr(self, self.rng.choice(self.EVENTS))()

    def random_mix(self, extra: int) -> None:
        """Every kind of event once, and up to ``extra`` more of any kind, in a random order."""
        names = [*self.EVENTS, *(self.rng.choice(self.EVENTS) for _ in range(self.rng.randrange(extra + 1)))]
        self.rng.shuffle(names)
        for name in names:
            getattr(self, name)()
