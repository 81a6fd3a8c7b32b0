"""Hedera Consensus Service topics: entity ids, timestamps, mirror-node messages and the v3 running hash.

A topic's running hash chains every message: the consensus nodes compute, for each message,
``SHA-384(stream)`` where ``stream`` is what Java's ``ObjectOutputStream`` writes for (hedera-services,
``MerkleTopic.updateRunningHashAndSequenceNumber``)::

    writeObject(previousRunningHash)          # byte[48]; 48 zero bytes before the first message
    writeLong(3)                              # RUNNING_HASH_VERSION
    writeLong(payer.shard); writeLong(payer.realm); writeLong(payer.num)
    writeLong(topic.shard); writeLong(topic.realm); writeLong(topic.num)
    writeLong(consensusSeconds); writeInt(consensusNanos)
    writeLong(sequenceNumber)
    writeObject(SHA-384(message))             # byte[48]

The bytes are therefore not a bare concatenation: the stream starts with its magic and version, each
``byte[]`` is a serialized array object (the first with the ``[B`` class descriptor, the second with a
back-reference to it), and the primitives between them are one block-data record.
:func:`running_hash_v3` reproduces them exactly (tested against hedera-services' own vectors).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from .errors import DecodeError

LAYER = "hedera"
RUNNING_HASH_VERSION = 3
RUNNING_HASH_BYTES = 48
EntityId = tuple[int, int, int]

_STREAM_HEADER = b"\xac\xed\x00\x05"  # STREAM_MAGIC, STREAM_VERSION
_TC_ARRAY, _TC_CLASSDESC, _TC_REFERENCE, _TC_BLOCKDATA = b"\x75", b"\x72", b"\x71", b"\x77"
_TC_ENDBLOCKDATA, _TC_NULL = b"\x78", b"\x70"
_BYTE_ARRAY_SERIAL_VERSION_UID = bytes.fromhex("acf317f8060854e0")  # of Java's byte[]
_SC_SERIALIZABLE = b"\x02"
_BASE_WIRE_HANDLE = 0x7E0000  # the first handle: the byte[] class descriptor
_ENTITY_ID = re.compile(r"(\d{1,19})\.(\d{1,19})\.(\d{1,19})")
_TIMESTAMP = re.compile(r"(\d{1,19})\.(\d{9})")


def _byte_array_class_descriptor() -> bytes:
    name = b"[B"
    fields = struct.pack(">H", 0)
    return (_TC_CLASSDESC + struct.pack(">H", len(name)) + name + _BYTE_ARRAY_SERIAL_VERSION_UID
            + _SC_SERIALIZABLE + fields + _TC_ENDBLOCKDATA + _TC_NULL)  # fmt: skip


def _java_byte_array(data: bytes, *, first: bool) -> bytes:
    """One ``byte[]`` as ObjectOutputStream writes it: a new class descriptor the first time, then a reference."""
    descriptor = _byte_array_class_descriptor() if first else _TC_REFERENCE + struct.pack(">I", _BASE_WIRE_HANDLE)
    return _TC_ARRAY + descriptor + struct.pack(">i", len(data)) + data


def _block_data(payload: bytes) -> bytes:
    assert len(payload) <= 0xFF  # the fields below always fit one short block-data record
    return _TC_BLOCKDATA + bytes([len(payload)]) + payload


def running_hash_v3(
    previous: bytes | None,
    topic: EntityId,
    payer: EntityId,
    seconds: int,
    nanos: int,
    sequence_number: int,
    message: bytes,
) -> bytes:
    """The topic running hash (version 3) after ``message``, from the one before it (None or b"": zeros)."""
    previous = previous or bytes(RUNNING_HASH_BYTES)
    fields = struct.pack(">q", RUNNING_HASH_VERSION) + struct.pack(">qqq", *payer) + struct.pack(">qqq", *topic)
    fields += struct.pack(">qi", seconds, nanos) + struct.pack(">q", sequence_number)
    stream = (_STREAM_HEADER + _java_byte_array(previous, first=True) + _block_data(fields)
              + _java_byte_array(hashlib.sha384(message).digest(), first=False))  # fmt: skip
    return hashlib.sha384(stream).digest()


def parse_entity_id(text: str, *, where: str = "") -> EntityId:
    """``"0.0.1234"`` -> ``(0, 0, 1234)``; anything else is a DecodeError."""
    match = _ENTITY_ID.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DecodeError(f"not a Hedera entity id (shard.realm.num): {str(text)[:40]!r}", layer=LAYER, where=where)
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def format_entity_id(entity: EntityId) -> str:
    return ".".join(str(part) for part in entity)


def parse_consensus_timestamp(text: str, *, where: str = "") -> tuple[int, int]:
    """``"1577401723.987654321"`` -> ``(1577401723, 987654321)``."""
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DecodeError(f"not a consensus timestamp (seconds.nanos): {str(text)[:40]!r}", layer=LAYER, where=where)
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class TopicMessage:
    """One message of a topic as the mirror node serves it, decoded."""

    topic: EntityId
    sequence_number: int
    consensus_seconds: int
    consensus_nanos: int
    payer: EntityId
    message: bytes
    running_hash: bytes
    running_hash_version: int
    chunk_number: int = 1
    chunk_total: int = 1
    initial_transaction_id: str = ""

    @property
    def consensus_timestamp(self) -> str:
        return f"{self.consensus_seconds}.{self.consensus_nanos:09d}"

    def expected_running_hash(self, previous: bytes | None) -> bytes:
        return running_hash_v3(previous, self.topic, self.payer, self.consensus_seconds, self.consensus_nanos,
                               self.sequence_number, self.message)  # fmt: skip


def _b64(value: object, name: str, where: str) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(f"{name} must be a base64 string", layer=LAYER, where=where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{name} is not valid base64", layer=LAYER, where=where) from None


def _int(value: object, name: str, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DecodeError(f"{name} must be an integer >= {minimum}", layer=LAYER, where=where)
    return value


def _chunk(record: dict, where: str) -> tuple[int, int, str]:
    info = record.get("chunk_info")
    if info is None:
        return 1, 1, ""
    if not isinstance(info, dict):
        raise DecodeError("chunk_info must be an object", layer=LAYER, where=where)
    initial = info.get("initial_transaction_id") or {}
    initial_id = ""
    if isinstance(initial, dict) and initial:
        initial_id = f"{initial.get('account_id', '')}@{initial.get('transaction_valid_start', '')}"
        initial_id += f"/{initial.get('nonce', 0)}"
    number = _int(info.get("number"), "chunk_info.number", where, 1)
    return number, _int(info.get("total"), "chunk_info.total", where, 1), initial_id


def parse_message(record: object, *, where: str = "") -> TopicMessage:
    """One element of the mirror's ``messages`` array -> :class:`TopicMessage`; a malformed one is a DecodeError."""
    if not isinstance(record, dict):
        raise DecodeError("a topic message must be a JSON object", layer=LAYER, where=where)
    seconds, nanos = parse_consensus_timestamp(record.get("consensus_timestamp"), where=where)
    number, total, initial = _chunk(record, where)
    return TopicMessage(
        topic=parse_entity_id(record.get("topic_id"), where=where),
        sequence_number=_int(record.get("sequence_number"), "sequence_number", where, 1),
        consensus_seconds=seconds,
        consensus_nanos=nanos,
        payer=parse_entity_id(record.get("payer_account_id"), where=where),
        message=_b64(record.get("message"), "message", where),
        running_hash=_b64(record.get("running_hash"), "running_hash", where),
        running_hash_version=_int(record.get("running_hash_version"), "running_hash_version", where),
        chunk_number=number,
        chunk_total=total,
        initial_transaction_id=initial,
    )


def message_json(message: TopicMessage) -> dict:
    """The mirror node's JSON for one message (what the local mirror serves)."""
    record: dict = {
        "consensus_timestamp": message.consensus_timestamp,
        "message": base64.b64encode(message.message).decode(),
        "payer_account_id": format_entity_id(message.payer),
        "running_hash": base64.b64encode(message.running_hash).decode(),
        "running_hash_version": message.running_hash_version,
        "sequence_number": message.sequence_number,
        "topic_id": format_entity_id(message.topic),
        "chunk_info": None,
    }
    if message.chunk_total > 1 or message.initial_transaction_id:
        account, _, rest = message.initial_transaction_id.partition("@")
        valid_start, _, nonce = rest.partition("/")
        record["chunk_info"] = {
            "initial_transaction_id": {"account_id": account, "nonce": int(nonce or 0), "scheduled": False,
                                       "transaction_valid_start": valid_start},  # fmt: skip
            "number": message.chunk_number,
            "total": message.chunk_total,
        }
    return record
