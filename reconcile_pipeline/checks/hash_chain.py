"""Pure verification of the CHAT records' hash chain (seed 003): ``H_n = SHA-256(H_{n-1} + data_n)``.

Records are taken in sequence order. The first link that fails is the break: a record whose stored
``prev_hash`` is not the previous record's stored hash, or whose stored hash is not the one recomputed from its
``prev_hash`` and data, or a gap in sequence numbers. The records after it are named once, as affected (their
own links may well hold: the chain is broken upstream of them), never as separate breaks; a second,
independent break further on is reported as well, since it needs its own repair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..layers.chat_records import GENESIS, ChainRecord, chain_hash


@dataclass(frozen=True)
class ChainBreak:
    record_id: str
    seq: int
    reason: str
    affected: tuple[str, ...] = ()  # the later records up to the next break


@dataclass
class ChainVerdict:
    breaks: list[ChainBreak] = field(default_factory=list)
    checked: int = 0

    @property
    def intact(self) -> bool:
        return not self.breaks


def _link_problem(record: ChainRecord, previous: ChainRecord | None) -> str | None:
    expected_prev = previous.hash if previous is not None else GENESIS
    if previous is not None and record.seq != previous.seq + 1:
        return f"gap in sequence numbers: {previous.seq} then {record.seq}"
    if record.prev_hash != expected_prev:
        return f"prev_hash {record.prev_hash[:16] or '(empty)'}... is not the previous record's hash"
    if chain_hash(record.prev_hash, record.data) != record.hash:
        return "hash differs from SHA-256(prev_hash + data)"
    return None


def verify_chain(records: Iterable[ChainRecord], *, previous: ChainRecord | None = None) -> ChainVerdict:
    """Verify ``records`` (ascending ``seq``) as the continuation of ``previous`` (None: from the first record)."""
    verdict = ChainVerdict()
    affected: list[str] = []
    for record in records:
        verdict.checked += 1
        problem = _link_problem(record, previous)
        if problem is not None:
            _close(verdict, affected)
            verdict.breaks.append(ChainBreak(record.id, record.seq, problem))
            affected = []
        elif verdict.breaks:
            affected.append(record.id)
        previous = record
    _close(verdict, affected)
    return verdict


def _close(verdict: ChainVerdict, affected: list[str]) -> None:
    if verdict.breaks and affected:
        last = verdict.breaks[-1]
        verdict.breaks[-1] = ChainBreak(last.record_id, last.seq, last.reason, tuple(affected))
