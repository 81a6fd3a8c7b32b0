"""Pure verification of a Hedera topic's history: running hashes (v3) and sequence numbers.

Each message's running hash is recomputed from the one before it and compared with the hash the mirror
serves. Verification goes on from the mirror's own hash after a failure, so every failing message is
named and the first of them is the finding (the mirror or the topic history was tampered with there).
A gap in sequence numbers is named with the missing range; the message after a gap cannot be verified
(its predecessor is not there) and is neither passed nor failed, and the chain resumes from its hash.
Messages of another running-hash version than 3 are likewise left unjudged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..layers.hedera import RUNNING_HASH_VERSION, TopicMessage


@dataclass(frozen=True)
class HashFailure:
    sequence_number: int
    expected: bytes
    served: bytes


@dataclass(frozen=True)
class SequenceGap:
    after: int  # the last sequence number present before the gap
    missing_from: int
    missing_to: int


@dataclass
class TopicChainVerdict:
    failures: list[HashFailure] = field(default_factory=list)
    gaps: list[SequenceGap] = field(default_factory=list)
    unjudged: list[int] = field(default_factory=list)  # sequence numbers whose hash could not be verified
    verified: int = 0
    last_sequence: int = 0
    last_running_hash: bytes | None = None

    @property
    def first_failure(self) -> HashFailure | None:
        return self.failures[0] if self.failures else None

    @property
    def intact(self) -> bool:
        return not self.failures and not self.gaps


def verify_topic_chain(
    messages: Iterable[TopicMessage], *, previous_sequence: int = 0, previous_hash: bytes | None = None
) -> TopicChainVerdict:
    """Verify ``messages`` (ascending) as the continuation of a history verified through ``previous_sequence``
    whose running hash was ``previous_hash`` (0 and None: from the topic's first message)."""
    verdict = TopicChainVerdict(last_sequence=previous_sequence, last_running_hash=previous_hash)
    known_previous = previous_sequence == 0 or previous_hash is not None
    for message in messages:
        expected_sequence = verdict.last_sequence + 1
        if message.sequence_number > expected_sequence:
            verdict.gaps.append(SequenceGap(verdict.last_sequence, expected_sequence, message.sequence_number - 1))
            known_previous = False
        _judge(verdict, message, known_previous)
        verdict.last_sequence, verdict.last_running_hash = message.sequence_number, message.running_hash
        known_previous = True
    return verdict


def _judge(verdict: TopicChainVerdict, message: TopicMessage, known_previous: bool) -> None:
    if not known_previous or message.running_hash_version != RUNNING_HASH_VERSION:
        verdict.unjudged.append(message.sequence_number)
        return
    expected = message.expected_running_hash(verdict.last_running_hash)
    if expected == message.running_hash:
        verdict.verified += 1
    else:
        verdict.failures.append(HashFailure(message.sequence_number, expected, message.running_hash))
