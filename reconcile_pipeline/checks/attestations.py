"""Pure attestation checks (seed 003's "Hedera Query Pattern"): records against the attestations of a topic.

An attestation is a topic message whose content (its chunks joined by their initial transaction id) is a JSON
object with seed 003's HederaAttestation fields::

    {"dataHash": "<sha-256 hex>", "eventType": "creation" | "update" | ..., "signer": "<attester>",
     "previousHash": "<hex>" | null, "metadata": {"entityType": "block", "entityId": "17", ...}}

Verdicts per record (``entity_type``, ``entity_id``, the content hash recomputed from its bytes, its creation
time), against the newest attestation naming it:

- ``missing``: no attestation names the record;
- ``mismatch``: the attested ``dataHash`` is not the recomputed hash;
- ``signer_unexpected``: the attestation's signer is not an allowed attester;
- ``backdated``: the record claims a creation time earlier than its first attestation allows (more than
  ``max_delay_s`` before the consensus time: a consensus timestamp cannot be backdated, a record's own can).

Messages that are not such an object (not UTF-8 JSON, a field missing or of the wrong type, a chunk missing)
are ``invalid``: named with their sequence number, never a crash. A record whose hash could not be recomputed
(its layer could not be read) is not judged here: the caller makes it unknown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ..jsonsafe import loads_bounded
from ..layers.errors import DecodeError
from ..layers.hedera import TopicMessage

MAX_ATTESTATION_BYTES = 64 * 1024
_HEX64 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class Attestation:
    entity_type: str
    entity_id: str
    data_hash: str  # lowercase hex, no 0x
    event_type: str
    signer: str
    previous_hash: str | None
    sequence_number: int  # of the message (the last chunk's)
    consensus_ns: int


@dataclass(frozen=True)
class InvalidMessage:
    sequence_number: int
    reason: str


@dataclass(frozen=True)
class AttestedRecord:
    entity_type: str
    entity_id: str
    content_hash: str  # hex of the hash recomputed from the record's bytes
    created_ns: int | None = None


@dataclass(frozen=True)
class AttestationVerdict:
    entity_type: str
    entity_id: str
    problem: str  # missing | mismatch | signer_unexpected | backdated
    details: dict


def _hex64(value: object, name: str) -> str:
    match = _HEX64.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise DecodeError(f"{name} must be 64 hex digits")
    return match.group(1).lower()


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise DecodeError(f"{name} must be a non-empty string")
    return value


def parse_attestation(content: bytes, sequence_number: int, consensus_ns: int) -> Attestation:
    document = loads_bounded(content, max_bytes=MAX_ATTESTATION_BYTES, max_depth=8)
    if not isinstance(document, dict):
        raise DecodeError("an attestation must be a JSON object")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise DecodeError("metadata must be an object naming entityType and entityId")
    previous, entity_id = document.get("previousHash"), metadata.get("entityId")
    if isinstance(entity_id, int) and not isinstance(entity_id, bool):
        entity_id = str(entity_id)  # block numbers may be attested as numbers
    return Attestation(
        entity_type=_text(metadata.get("entityType"), "metadata.entityType"),
        entity_id=_text(entity_id, "metadata.entityId"),
        data_hash=_hex64(document.get("dataHash"), "dataHash"),
        event_type=_text(document.get("eventType"), "eventType"),
        signer=_text(document.get("signer"), "signer"),
        previous_hash=None if previous is None else _hex64(previous, "previousHash"),
        sequence_number=sequence_number,
        consensus_ns=consensus_ns,
    )


def _consensus_ns(message: TopicMessage) -> int:
    return message.consensus_seconds * 1_000_000_000 + message.consensus_nanos


def _joined(messages: Iterable[TopicMessage]) -> Iterable[tuple[TopicMessage, bytes] | InvalidMessage]:
    """Each logical message with its content: single messages as they are, chunks joined by initial tx id."""
    groups: dict[str, list[TopicMessage]] = defaultdict(list)
    for message in messages:
        if message.chunk_total <= 1:
            yield message, message.message
        elif not message.initial_transaction_id:
            yield InvalidMessage(message.sequence_number, "a chunk without an initial transaction id")
        else:
            groups[message.initial_transaction_id].append(message)
    for chunks in groups.values():
        chunks.sort(key=lambda m: m.chunk_number)
        last = chunks[-1]
        if [c.chunk_number for c in chunks] != list(range(1, last.chunk_total + 1)):
            yield InvalidMessage(last.sequence_number, f"{len(chunks)} of {last.chunk_total} chunks present")
        else:
            yield last, b"".join(c.message for c in chunks)


def assemble_attestations(messages: Iterable[TopicMessage]) -> tuple[list[Attestation], list[InvalidMessage]]:
    attestations, invalid = [], []
    for item in _joined(messages):
        if isinstance(item, InvalidMessage):
            invalid.append(item)
            continue
        message, content = item
        try:
            attestations.append(parse_attestation(content, message.sequence_number, _consensus_ns(message)))
        except DecodeError as exc:
            invalid.append(InvalidMessage(message.sequence_number, str(exc)))
    attestations.sort(key=lambda a: (a.consensus_ns, a.sequence_number))
    invalid.sort(key=lambda i: i.sequence_number)
    return attestations, invalid


def judge_records(
    records: Iterable[AttestedRecord],
    attestations: Iterable[Attestation],
    *,
    allowed_signers: frozenset[str],
    max_delay_s: float,
) -> list[AttestationVerdict]:
    """Every problem of every record against the attestations naming it (see the module docstring)."""
    by_entity: dict[tuple[str, str], list[Attestation]] = defaultdict(list)
    for attestation in attestations:
        by_entity[(attestation.entity_type, attestation.entity_id)].append(attestation)
    verdicts: list[AttestationVerdict] = []
    for record in records:
        verdicts.extend(_judge(record, by_entity.get((record.entity_type, record.entity_id), []),
                               allowed_signers, max_delay_s))  # fmt: skip
    return verdicts


def _judge(
    record: AttestedRecord, found: list[Attestation], allowed: frozenset[str], max_delay_s: float
) -> list[AttestationVerdict]:
    def verdict(problem: str, **details: object) -> AttestationVerdict:
        return AttestationVerdict(record.entity_type, record.entity_id, problem, details)

    if not found:
        return [verdict("missing", content_hash=record.content_hash)]
    newest, first = found[-1], found[0]
    out = []
    if newest.data_hash != record.content_hash.lower():
        out.append(verdict("mismatch", attested=newest.data_hash, recomputed=record.content_hash,
                           sequence_number=newest.sequence_number))  # fmt: skip
    foreign = sorted({a.signer for a in found if a.signer not in allowed})
    if foreign:
        out.append(verdict("signer_unexpected", signers=foreign,
                           sequence_numbers=[a.sequence_number for a in found if a.signer not in allowed]))  # fmt: skip
    if record.created_ns is not None and first.consensus_ns - record.created_ns > max_delay_s * 1e9:
        out.append(verdict("backdated", created_ns=record.created_ns, attested_ns=first.consensus_ns,
                           max_delay_s=max_delay_s, sequence_number=first.sequence_number))  # fmt: skip
    return out
