"""Pure attestation checks: topic messages (chunks joined) against records' recomputed content hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from reconcile_pipeline.checks.attestations import AttestedRecord, assemble_attestations, judge_records
from reconcile_pipeline.layers.hedera import TopicMessage
from reconcile_pipeline.sandbox.hedera import TopicHistory

TOPIC, ATTESTER, FOREIGN = "0.0.4242", "0.0.1001", "0.0.6666"
ALLOWED = frozenset({ATTESTER})
BASE_S = 1_700_000_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attest(history: TopicHistory, entity_id: str, data: bytes, *, signer: str = ATTESTER, at_s: int = BASE_S,
           data_hash: str | None = None) -> TopicMessage:  # fmt: skip
    body = {"dataHash": data_hash or sha(data), "eventType": "creation", "signer": signer, "previousHash": None,
            "metadata": {"entityType": "block", "entityId": entity_id}}  # fmt: skip
    return history.submit(TOPIC, ATTESTER, json.dumps(body).encode(), seconds=at_s)


def record(entity_id: str, data: bytes, created_s: int = BASE_S) -> AttestedRecord:
    return AttestedRecord("block", entity_id, sha(data), created_s * 1_000_000_000)


def judge(messages: list[TopicMessage], records: list[AttestedRecord]) -> set[tuple[str, str]]:
    attestations, invalid = assemble_attestations(messages)
    assert not invalid
    verdicts = judge_records(records, attestations, allowed_signers=ALLOWED, max_delay_s=3600)
    return {(v.entity_id, v.problem) for v in verdicts}


def test_clean_records_have_no_verdicts() -> None:
    history = TopicHistory()
    messages = [attest(history, str(n), b"block %d" % n) for n in range(5)]
    assert judge(messages, [record(str(n), b"block %d" % n) for n in range(5)]) == set()


def test_each_problem_is_named_once() -> None:
    history = TopicHistory()
    messages = [
        attest(history, "1", b"one", data_hash=sha(b"other bytes")),  # mismatch
        attest(history, "2", b"two", signer=FOREIGN),  # foreign signer
        attest(history, "3", b"three", at_s=BASE_S + 7200),  # attested two hours after its claimed creation
        attest(history, "4", b"four", at_s=BASE_S + 3599),  # within the allowed delay
    ]
    records = [record(n, data) for n, data in (("1", b"one"), ("2", b"two"), ("3", b"three"), ("4", b"four"))]
    records.append(record("5", b"five"))
    assert judge(messages, records) == {("1", "mismatch"), ("2", "signer_unexpected"), ("3", "backdated"),
                                        ("5", "missing")}  # fmt: skip


def test_the_newest_attestation_decides_the_hash() -> None:
    history = TopicHistory()
    messages = [attest(history, "1", b"v1", at_s=BASE_S), attest(history, "1", b"v2", at_s=BASE_S + 10)]
    assert judge(messages, [record("1", b"v2")]) == set()
    assert judge(messages, [record("1", b"v1")]) == {("1", "mismatch")}


def test_chunks_are_joined_by_initial_transaction_id_and_incomplete_ones_are_invalid() -> None:
    history = TopicHistory()
    body = json.dumps({"dataHash": sha(b"x"), "eventType": "creation", "signer": ATTESTER,
                       "metadata": {"entityType": "block", "entityId": 9}}).encode()  # fmt: skip
    halves = [body[: len(body) // 2], body[len(body) // 2 :]]
    chunks = [dataclasses.replace(history.submit(TOPIC, ATTESTER, part), chunk_number=i + 1, chunk_total=2,
                                  initial_transaction_id="0.0.1001@1700000000.000000001/0")
              for i, part in enumerate(halves)]  # fmt: skip
    attestations, invalid = assemble_attestations(chunks[::-1])
    assert [(a.entity_id, a.data_hash) for a in attestations] == [("9", sha(b"x"))] and not invalid
    attestations, invalid = assemble_attestations(chunks[:1])
    assert not attestations and [(i.sequence_number, i.reason) for i in invalid] == [(1, "1 of 2 chunks present")]


def test_unparseable_messages_are_invalid_never_a_crash() -> None:
    history = TopicHistory()
    contents = [b"\xff\xfe", b"[1]", b"{", b'{"dataHash": "zz"}', b"[" * 100_000, json.dumps(
        {"dataHash": sha(b"x"), "eventType": "creation", "signer": ATTESTER, "metadata": {"entityType": "block"}}
    ).encode(), b'{"dataHash": NaN}']  # fmt: skip
    messages = [history.submit(TOPIC, ATTESTER, content) for content in contents]
    attestations, invalid = assemble_attestations(messages)
    assert not attestations and [i.sequence_number for i in invalid] == list(range(1, len(contents) + 1))
