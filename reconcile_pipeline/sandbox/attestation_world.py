"""The local world's attestations and pins (seed 003): a Hedera topic on a local mirror, three pinning services.

:class:`AttestationWorld` attests every record (its SHA-256 as ``dataHash``) on topic ``0.0.4242`` a minute after
the record was created, and pins each record's content on every pinning service. Faults, each made on the
store itself and written to the manifest with its findings:

- ATTESTATION_MISSING: the newest record is never attested (chat_record ID);
- ATTESTATION_MISMATCH: a record attested with another hash (chat_record ID);
- ATTESTATION_SIGNER_UNEXPECTED: a record attested by a foreign signer (chat_record ID);
- ATTESTATION_BACKDATED: a record claims a creation time 2 h before its attestation, 1 h allowed (chat_record ID);
- ATTESTATION_INVALID: a message that is not an attestation (topic_message TOPIC#SEQ);
- TOPIC_RUNNING_HASH_INVALID: the mirror serves other bytes for one message (topic TOPIC; that message's record
  is then ATTESTATION_MISSING *unknown*, since the topic no longer shows its attestation faithfully);
- TOPIC_SEQUENCE_GAP: the mirror drops one message (topic TOPIC#SEQ; its record: unknown, likewise);
- PIN_REDUNDANCY_LOW: one CID pinned on one service of three, two required (cid CID).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..checks.attestations import AttestedRecord
from ..layers.unixfs import unixfs_cid
from .chat_world import ChatSpec, chat_chain
from .hedera import MirrorServer
from .pinning_service import PinningServiceServer

ATTESTATION_FAULTS: tuple[str, ...] = (
    "ATTESTATION_MISSING", "ATTESTATION_MISMATCH", "ATTESTATION_SIGNER_UNEXPECTED", "ATTESTATION_BACKDATED",
    "ATTESTATION_INVALID", "TOPIC_RUNNING_HASH_INVALID", "TOPIC_SEQUENCE_GAP", "PIN_REDUNDANCY_LOW",
)  # fmt: skip
TOPIC, PAYER, ATTESTER, FOREIGN = "0.0.4242", "0.0.1001", "0.0.1001", "0.0.6666"
BASE_S = 1_700_000_000
MAX_DELAY_S = 3600
# which record each fault takes (indexes into the record list; the newest is the unattested one)
VICTIMS = {"ATTESTATION_MISMATCH": 3, "ATTESTATION_SIGNER_UNEXPECTED": 5, "ATTESTATION_BACKDATED": 7,
           "TOPIC_RUNNING_HASH_INVALID": 9, "TOPIC_SEQUENCE_GAP": 11, "PIN_REDUNDANCY_LOW": 13}  # fmt: skip


@dataclass
class AttestationSpec:
    records: int = 30
    services: int = 3
    min_services: int = 2
    seed: int = 7
    faults: list[str] = field(default_factory=list)


@dataclass
class _Item:
    record_id: str
    content: bytes
    created_s: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def cid(self) -> str:
        return str(unixfs_cid(self.content))


def _body(item: _Item, *, data_hash: str | None = None, signer: str = ATTESTER) -> bytes:
    return json.dumps({"dataHash": data_hash or item.sha256, "eventType": "creation", "signer": signer,
                       "previousHash": None, "metadata": {"entityType": "chat_record", "entityId": item.record_id}},
                      sort_keys=True).encode()  # fmt: skip


class AttestationWorld:
    def __init__(self, spec: AttestationSpec) -> None:
        if spec.records < 16:
            raise ValueError("the attestation world needs at least 16 records")
        self.spec = spec
        self.mirror = MirrorServer()
        self.services = {f"pins-{i + 1}": PinningServiceServer(f"token-{i + 1}") for i in range(spec.services)}
        chain = chat_chain(ChatSpec(records=spec.records))
        self.items = [_Item(r.id, r.data.encode(), BASE_S + 600 * r.seq) for r in chain]
        self.faults: list[dict] = []

    def start(self) -> AttestationWorld:
        self.mirror.start()
        for server in self.services.values():
            server.start()
        faults = set(self.spec.faults)
        self._attest(faults)
        self._pin(faults)
        return self

    def stop(self) -> None:
        self.mirror.stop()
        for server in self.services.values():
            server.stop()

    @property
    def records(self) -> list[AttestedRecord]:
        return [AttestedRecord("chat_record", i.record_id, i.sha256, i.created_s * 1_000_000_000) for i in self.items]

    def settings_document(self) -> dict:
        return {
            "hedera": {"mirror_url": self.mirror.url, "topic_id": TOPIC, "allowed_signers": [ATTESTER],
                       "max_attestation_delay_s": MAX_DELAY_S},
            "pinning": {"min_services": self.spec.min_services,
                        "services": {name: {"endpoint": s.url, "token": f"token-{i + 1}"}
                                     for i, (name, s) in enumerate(self.services.items())}},
        }  # fmt: skip

    def _record(self, fault: str, description: str, *findings: tuple[str, str, str]) -> None:
        expected = [{"check_id": c, "entity_type": t, "entity_id": i} for c, t, i in findings]
        self.faults.append({"fault": fault, "description": description, "expected_findings": expected})

    def _attest(self, faults: set[str]) -> None:
        sequence: dict[str, int] = {}
        for index, item in enumerate(self.items):
            if index == len(self.items) - 1 and "ATTESTATION_MISSING" in faults:
                self._record("ATTESTATION_MISSING", f"{item.record_id} never attested",
                             ("ATTESTATION_MISSING", "chat_record", item.record_id))  # fmt: skip
                continue
            attested_at = item.created_s + 60  # before a backdating fault moves the record's own claim
            body = self._faulty_body(index, item, faults)
            stored = self.mirror.submit(TOPIC, PAYER, body, seconds=attested_at)
            sequence[item.record_id] = stored.sequence_number
            if index == 1 and "ATTESTATION_INVALID" in faults:
                junk = self.mirror.submit(TOPIC, PAYER, b"status: all good", seconds=item.created_s + 61)
                self._record("ATTESTATION_INVALID", "a message that is not an attestation",
                             ("ATTESTATION_INVALID", "topic_message", f"{TOPIC}#{junk.sequence_number}"))  # fmt: skip
        self._tamper_mirror(faults, sequence)

    def _faulty_body(self, index: int, item: _Item, faults: set[str]) -> bytes:
        if "ATTESTATION_MISMATCH" in faults and index == VICTIMS["ATTESTATION_MISMATCH"]:
            self._record("ATTESTATION_MISMATCH", f"{item.record_id} attested with another hash",
                         ("ATTESTATION_MISMATCH", "chat_record", item.record_id))  # fmt: skip
            return _body(item, data_hash=hashlib.sha256(b"other bytes").hexdigest())
        if "ATTESTATION_SIGNER_UNEXPECTED" in faults and index == VICTIMS["ATTESTATION_SIGNER_UNEXPECTED"]:
            self._record("ATTESTATION_SIGNER_UNEXPECTED", f"{item.record_id} attested by {FOREIGN}",
                         ("ATTESTATION_SIGNER_UNEXPECTED", "chat_record", item.record_id))  # fmt: skip
            return _body(item, signer=FOREIGN)
        if "ATTESTATION_BACKDATED" in faults and index == VICTIMS["ATTESTATION_BACKDATED"]:
            item.created_s -= 2 * 3600  # the record claims to be two hours older than its attestation allows
            self._record("ATTESTATION_BACKDATED", f"{item.record_id} claims a creation 2 h before its attestation",
                         ("ATTESTATION_BACKDATED", "chat_record", item.record_id))  # fmt: skip
        return _body(item)

    def _tamper_mirror(self, faults: set[str], sequence: dict[str, int]) -> None:
        if "TOPIC_RUNNING_HASH_INVALID" in faults:
            victim = self.items[VICTIMS["TOPIC_RUNNING_HASH_INVALID"]]
            self.mirror.tamper(TOPIC, sequence[victim.record_id], _body(victim, data_hash="ab" * 32))
            self._record("TOPIC_RUNNING_HASH_INVALID", f"message {sequence[victim.record_id]} rewritten on the mirror",
                         ("TOPIC_RUNNING_HASH_INVALID", "topic", TOPIC))  # fmt: skip
        if "TOPIC_SEQUENCE_GAP" in faults:
            victim = self.items[VICTIMS["TOPIC_SEQUENCE_GAP"]]
            self.mirror.drop(TOPIC, sequence[victim.record_id])
            self._record("TOPIC_SEQUENCE_GAP", f"message {sequence[victim.record_id]} missing on the mirror",
                         ("TOPIC_SEQUENCE_GAP", "topic", f"{TOPIC}#{sequence[victim.record_id]}"))  # fmt: skip

    def _pin(self, faults: set[str]) -> None:
        servers = list(self.services.values())
        for index, item in enumerate(self.items):
            under = "PIN_REDUNDANCY_LOW" in faults and index == VICTIMS["PIN_REDUNDANCY_LOW"]
            for server in servers[:1] if under else servers:
                server.pin(item.cid, name=item.record_id)
            if under:
                self._record("PIN_REDUNDANCY_LOW", f"{item.cid} pinned on one service of {len(servers)}",
                             ("PIN_REDUNDANCY_LOW", "cid", item.cid))  # fmt: skip
