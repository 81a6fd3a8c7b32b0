"""Pure: a topic's messages, the records they attest and the pin sets of the pinning services -> findings.

The topic is the truth only where its running hashes verify (DESIGN §2), so:

- the first message whose v3 running hash fails is TOPIC_RUNNING_HASH_INVALID (critical); a gap in sequence
  numbers is TOPIC_SEQUENCE_GAP. Messages that fail are not used as attestations;
- a record with no trusted attestation is ATTESTATION_MISSING, unless its attestation could be among what the
  topic does not show: a failing message, or a gap before whose end the record was created (an attestation
  follows its record). Then the finding is *unknown*, not failed;
- ATTESTATION_MISMATCH, ATTESTATION_SIGNER_UNEXPECTED and ATTESTATION_BACKDATED come from
  :func:`.attestations.judge_records`; a message that is not an attestation is ATTESTATION_INVALID;
- PIN_REDUNDANCY_LOW: a CID pinned (status ``pinned``) on fewer services than ``min_services``, counted over
  the services that could be read; when unreadable services could make up the difference, it is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..layers.hedera import TopicMessage
from .attestations import AttestedRecord, assemble_attestations, judge_records
from .topic_chain import verify_topic_chain

_PROBLEMS = {"missing": "ATTESTATION_MISSING", "mismatch": "ATTESTATION_MISMATCH",
             "signer_unexpected": "ATTESTATION_SIGNER_UNEXPECTED", "backdated": "ATTESTATION_BACKDATED"}  # fmt: skip


def _finding(check_id: str, entity_type: str, entity_id: str, status: str = "fail", **details: object) -> dict:
    return {"check_id": check_id, "entity_type": entity_type, "entity_id": entity_id, "status": status,
            "details": details}  # fmt: skip


def _ns(message: TopicMessage) -> int:
    return message.consensus_seconds * 1_000_000_000 + message.consensus_nanos


def topic_findings(
    topic: str, messages: list[TopicMessage], records: list[AttestedRecord], *, allowed_signers: frozenset[str],
    max_delay_s: float,
) -> list[dict]:  # fmt: skip
    verdict = verify_topic_chain(messages)
    out: list[dict] = []
    if verdict.first_failure is not None:
        first = verdict.first_failure
        out.append(_finding("TOPIC_RUNNING_HASH_INVALID", "topic", topic, sequence_number=first.sequence_number,
                            expected=first.expected.hex(), served=first.served.hex(),
                            later_failures=[f.sequence_number for f in verdict.failures[1:]]))  # fmt: skip
    out += [_finding("TOPIC_SEQUENCE_GAP", "topic", f"{topic}#{gap.missing_from}", after=gap.after,
                     missing_from=gap.missing_from, missing_to=gap.missing_to) for gap in verdict.gaps]  # fmt: skip
    failed = {f.sequence_number for f in verdict.failures}
    trusted = [m for m in messages if m.sequence_number not in failed]
    attestations, invalid = assemble_attestations(trusted)
    out += [_finding("ATTESTATION_INVALID", "topic_message", f"{topic}#{i.sequence_number}", reason=i.reason)
            for i in invalid]  # fmt: skip
    hidden_until = _hidden_until(messages, verdict)
    created = {(r.entity_type, r.entity_id): r.created_ns for r in records}
    for v in judge_records(records, attestations, allowed_signers=allowed_signers, max_delay_s=max_delay_s):
        status, details = "fail", dict(v.details)
        if v.problem == "missing" and _could_be_hidden(created.get((v.entity_type, v.entity_id)), hidden_until):
            status = "unknown"
            details["reason"] = "the topic does not show every message: its attestation may be among them"
        out.append(_finding(_PROBLEMS[v.problem], v.entity_type, v.entity_id, status, **details))
    return out


def _hidden_until(messages: list[TopicMessage], verdict: object) -> int | None:
    """The latest consensus time up to which a message the topic does not show (or shows tampered) may lie."""
    by_seq = {m.sequence_number: m for m in messages}
    bounds = [_ns(by_seq[f.sequence_number]) for f in verdict.failures]  # type: ignore[attr-defined]
    for gap in verdict.gaps:  # type: ignore[attr-defined]
        after = by_seq.get(gap.missing_to + 1)
        bounds.append(_ns(after) if after is not None else 2**63)
    return max(bounds) if bounds else None


def _could_be_hidden(created_ns: int | None, until: int | None) -> bool:
    """Whether a record created at ``created_ns`` (None: unknown) may have its attestation among what is hidden."""
    return until is not None and (created_ns is None or created_ns <= until)


def pin_findings(
    cids: Iterable[str], pinned: Mapping[str, set[str] | None], *, min_services: int
) -> list[dict]:
    """``pinned``: service -> the CIDs it has pinned, or None when the service could not be read."""
    readable = {name: pins for name, pins in pinned.items() if pins is not None}
    unreadable = sorted(set(pinned) - set(readable))
    out = []
    for cid in sorted(set(cids)):
        holders = sorted(name for name, pins in readable.items() if cid in pins)
        if len(holders) >= min_services:
            continue
        status = "unknown" if len(holders) + len(unreadable) >= min_services else "fail"
        out.append(_finding("PIN_REDUNDANCY_LOW", "cid", cid, status, pinned_on=holders,
                            missing_on=sorted(set(readable) - set(holders)), unreadable=unreadable,
                            min_services=min_services))  # fmt: skip
    return out
