"""Hedera topics: the v3 running hash against hedera-services' vectors, the mirror REST client against the
local mirror (same wire format), and the pure verification of a topic's history."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Iterator

import httpx
import pytest

from reconcile_pipeline.checks.topic_chain import verify_topic_chain
from reconcile_pipeline.layers.errors import DecodeError, LayerRateLimited
from reconcile_pipeline.layers.hedera import (
    message_json,
    parse_consensus_timestamp,
    parse_entity_id,
    parse_message,
    running_hash_v3,
)
from reconcile_pipeline.layers.hedera_mirror import MirrorClient, TopicNotFound
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.sandbox.hedera import MirrorServer, TopicHistory
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)
TOPIC, PAYER = "0.0.4242", "0.0.1001"

# hedera-services MerkleTopicTest.updateRunningHash: (initial sequence, message, payer, topic, initial
# running hash (hex, "" = none), consensus time as nanoseconds since the epoch ("" = none), expected hash).
VECTORS = [
    (0, b"message", (4, 5, 6), (1, 2, 3), "0000", 1577401723000000000,
     "46d4ef0126b7be6c1c11ea854d5732a50aa0d7fb17b325c6977cec284c76814f969234d67c0b8cc414b9c84ff3e2bcb3"),
    (1, b"", (7, 8, 9), (0, 0, 0), "", 1577401723987654321,
     "7547461ccf9bc8b598006f84c86bedee16967ba661da6f0c59c33476f8010932969b85aae59aff067e01e0fac6d45bda"),
    (0, b"", (10, 11, 12), (0, 0, 0), "", 0,
     "79200c525a751761dc25356d3dd01a34cf2a517e9c78e4b359ffd792f98f33f1ac1440dcd5e282abe73f6b265356218b"),
]  # fmt: skip


@pytest.mark.parametrize("vector", VECTORS, ids=["message", "empty-with-nanos", "all-defaults"])
def test_running_hash_v3_matches_hedera_services_vectors(vector: tuple) -> None:
    initial_sequence, message, payer, topic, initial_hash, nanos_since_epoch, expected = vector
    seconds, nanos = divmod(nanos_since_epoch, 1_000_000_000)
    got = running_hash_v3(bytes.fromhex(initial_hash), topic, payer, seconds, nanos, initial_sequence + 1, message)
    assert got.hex() == expected


def test_running_hash_is_not_a_bare_concatenation() -> None:
    bare = hashlib.sha384(bytes(48) + struct.pack(">qqqqqqqqiq", 3, 4, 5, 6, 1, 2, 3, 1577401723, 0, 1)
                          + hashlib.sha384(b"message").digest()).digest()  # fmt: skip
    assert running_hash_v3(bytes(2), (1, 2, 3), (4, 5, 6), 1577401723, 0, 1, b"message") != bare


def test_each_field_changes_the_hash() -> None:
    base = dict(previous=bytes(48), topic=(0, 0, 1), payer=(0, 0, 2), seconds=10, nanos=5, sequence_number=1,
                message=b"m")  # fmt: skip
    changed = [{"previous": b"\x01" * 48}, {"topic": (0, 0, 9)}, {"payer": (0, 1, 2)}, {"seconds": 11},
               {"nanos": 6}, {"sequence_number": 2}, {"message": b"n"}]  # fmt: skip
    hashes = {running_hash_v3(**{**base, **change}) for change in changed} | {running_hash_v3(**base)}
    assert len(hashes) == len(changed) + 1


@pytest.mark.parametrize("text", ["0.0", "0.0.x", "-1.0.2", "0.0.1.2", "", None, 7])
def test_bad_entity_ids_are_decode_errors(text: object) -> None:
    with pytest.raises(DecodeError, match="entity id"):
        parse_entity_id(text)  # type: ignore[arg-type]


def test_consensus_timestamps_need_nine_digit_nanos() -> None:
    assert parse_consensus_timestamp("1577401723.000000001") == (1577401723, 1)
    for bad in ("1577401723", "1577401723.1", "x.000000001", "1.0000000001"):
        with pytest.raises(DecodeError):
            parse_consensus_timestamp(bad)


@pytest.mark.parametrize(
    "change",
    [{"message": "not base64!"}, {"running_hash": 12}, {"sequence_number": 0}, {"sequence_number": True},
     {"topic_id": "x"}, {"consensus_timestamp": "12"}, {"chunk_info": []}, {"chunk_info": {"number": 0, "total": 1}}],
)  # fmt: skip
def test_malformed_messages_are_decode_errors(change: dict) -> None:
    record = message_json(TopicHistory().submit(TOPIC, PAYER, b"x"))
    assert parse_message(record).message == b"x"
    with pytest.raises(DecodeError):
        parse_message({**record, **change})


# -- the mirror client against the local mirror -------------------------------------------------------
@pytest.fixture
def mirror() -> Iterator[MirrorServer]:
    with MirrorServer() as server:
        yield server


def read(mirror: LoopbackServer, topic: str = TOPIC, after: int = 0) -> tuple[list, int]:
    async def main() -> tuple[list, int]:
        async with MirrorClient(mirror.url, retry=FAST, requests_per_window=1000) as client:
            return await client.messages(topic, after_sequence=after), client.request_count

    return asyncio.run(main())


def test_pages_of_100_are_followed_through_links_next(mirror: MirrorServer) -> None:
    for i in range(250):
        mirror.submit(TOPIC, PAYER, f"m{i}".encode())
    messages, requests = read(mirror)
    assert [m.sequence_number for m in messages] == list(range(1, 251))
    assert requests == 3 == sum(mirror.requests.values())
    verdict = verify_topic_chain(messages)
    assert verdict.intact and verdict.verified == 250 and verdict.last_running_hash == messages[-1].running_hash


def test_only_new_messages_are_read_after_the_last_verified_one(mirror: MirrorServer) -> None:
    for i in range(120):
        mirror.submit(TOPIC, PAYER, f"m{i}".encode())
    first, _ = read(mirror)
    mirror.reset_counters()
    for i in range(5):
        mirror.submit(TOPIC, PAYER, f"new{i}".encode())
    new, requests = read(mirror, after=120)
    assert [m.sequence_number for m in new] == [121, 122, 123, 124, 125] and requests == 1
    verdict = verify_topic_chain(new, previous_sequence=120, previous_hash=first[-1].running_hash)
    assert verdict.intact and verdict.verified == 5


def test_a_tampered_message_is_the_first_failure(mirror: MirrorServer) -> None:
    for i in range(30):
        mirror.submit(TOPIC, PAYER, f"m{i}".encode())
    mirror.tamper(TOPIC, 17, b"rewritten history")
    verdict = verify_topic_chain(read(mirror)[0])
    assert [f.sequence_number for f in verdict.failures] == [17]
    assert verdict.verified == 29 and not verdict.gaps


def test_a_dropped_message_is_a_gap_and_the_next_one_is_not_judged(mirror: MirrorServer) -> None:
    for i in range(10):
        mirror.submit(TOPIC, PAYER, f"m{i}".encode())
    mirror.drop(TOPIC, 4)
    mirror.drop(TOPIC, 5)
    verdict = verify_topic_chain(read(mirror)[0])
    assert [(g.after, g.missing_from, g.missing_to) for g in verdict.gaps] == [(3, 4, 5)]
    assert verdict.unjudged == [6] and not verdict.failures and verdict.verified == 7


def test_a_continuation_without_the_previous_hash_is_not_judged() -> None:
    history = TopicHistory()
    messages = [history.submit(TOPIC, PAYER, b"a"), history.submit(TOPIC, PAYER, b"b")]
    verdict = verify_topic_chain(messages[1:], previous_sequence=1, previous_hash=None)
    assert verdict.unjudged == [2] and verdict.verified == 0 and verdict.intact


def test_unknown_topic_is_not_found(mirror: MirrorServer) -> None:
    with pytest.raises(TopicNotFound):
        read(mirror, "0.0.999")


def test_page_size_is_at_most_100() -> None:
    with pytest.raises(ValueError, match="page_size"):
        MirrorClient("http://127.0.0.1:9", page_size=101)
    with MirrorServer() as server:
        server.create_topic(TOPIC)
        for limit, status in (("101", 400), ("0", 400), ("x", 400), ("100", 200)):
            assert httpx.get(f"{server.url}/api/v1/topics/{TOPIC}/messages?limit={limit}").status_code == status


class HostileMirror(LoopbackServer):
    """Serves one real page whose links.next points somewhere else."""

    def __init__(self, next_link: str) -> None:
        super().__init__()
        self.next_link = next_link
        self.page = [message_json(TopicHistory().submit(TOPIC, PAYER, b"x"))]

    def route(self, request: Request) -> Response:
        return Response.json({"messages": self.page, "links": {"next": self.next_link}})


@pytest.mark.parametrize(
    "next_link",
    ["http://169.254.169.254/latest/meta-data", "//evil.example/api/v1/topics/0.0.4242/messages",
     "/api/v1/accounts?limit=100", "/api/v1/topics/0.0.1/messages?limit=100", "file:///etc/passwd"],
)  # fmt: skip
def test_links_next_cannot_leave_the_topics_endpoint(next_link: str) -> None:
    with HostileMirror(next_link) as hostile, pytest.raises(DecodeError, match="links.next"):
        read(hostile)
    assert sum(hostile.requests.values()) == 1


def test_a_page_served_twice_does_not_loop() -> None:
    with HostileMirror(f"/api/v1/topics/{TOPIC}/messages?limit=100&sequencenumber=gt:0") as hostile:
        with pytest.raises(DecodeError, match="repeats sequence"):
            read(hostile)
        assert sum(hostile.requests.values()) == 2


def test_429_with_retry_after_is_honoured_then_rate_limited(mirror: MirrorServer) -> None:
    mirror.submit(TOPIC, PAYER, b"x")
    mirror.faults.arm("ratelimit", times=1)
    mirror.faults.retry_after_s = 0
    messages, _ = read(mirror)
    assert len(messages) == 1
    mirror.faults.arm("ratelimit")
    with pytest.raises(LayerRateLimited):
        read(mirror)


def test_messages_of_another_topic_are_refused() -> None:
    record = message_json(TopicHistory().submit("0.0.7", PAYER, b"x"))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"messages": [record], "links": {}}))

    async def main() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await MirrorClient("http://mirror", client=client, retry=FAST).messages(TOPIC)

    with pytest.raises(DecodeError, match="topic 0.0.7"):
        asyncio.run(main())


def test_served_json_has_the_mirror_shape(mirror: MirrorServer) -> None:
    mirror.submit(TOPIC, PAYER, b"hello", seconds=1700000000, nanos=5)
    body = httpx.get(f"{mirror.url}/api/v1/topics/{TOPIC}/messages?limit=1").json()
    (record,) = body["messages"]
    assert record["consensus_timestamp"] == "1700000000.000000005" and record["topic_id"] == TOPIC
    assert base64.b64decode(record["message"]) == b"hello" and record["running_hash_version"] == 3
    assert len(base64.b64decode(record["running_hash"])) == 48 and record["payer_account_id"] == PAYER
    assert body["links"]["next"] == f"/api/v1/topics/{TOPIC}/messages?limit=1&order=asc&sequencenumber=gt:1"
