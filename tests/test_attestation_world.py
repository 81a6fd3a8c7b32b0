"""Attestations and pins of the local world: every injected fault gives exactly its manifest findings, a clean
world none; an unreadable topic or pinning service gives unknown findings, never failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile_pipeline.checks.attestation_findings import pin_findings, topic_findings
from reconcile_pipeline.sandbox.attestation_world import (
    ATTESTATION_FAULTS,
    TOPIC,
    VICTIMS,
    AttestationSpec,
    AttestationWorld,
)
from reconcile_pipeline.snapshots.attestations import read_attestations


def keys(findings: list[dict], status: str = "fail") -> set[tuple[str, str, str]]:
    return {(f["check_id"], f["entity_type"], f["entity_id"]) for f in findings if f["status"] == status}


def judge(world: AttestationWorld) -> list[dict]:
    settings = world.settings_document()
    hedera, pinning = settings["hedera"], settings["pinning"]
    cids = [item.cid for item in world.items]
    snapshot = read_attestations(hedera["mirror_url"], hedera["topic_id"], pinning["services"], cids)
    found = pin_findings(cids, snapshot.pinned, min_services=pinning["min_services"])
    if snapshot.messages is not None:
        found += topic_findings(hedera["topic_id"], snapshot.messages, world.records,
                                allowed_signers=frozenset(hedera["allowed_signers"]),
                                max_delay_s=hedera["max_attestation_delay_s"])  # fmt: skip
    return found


@pytest.fixture
def world(request) -> Iterator[AttestationWorld]:  # noqa: ANN001
    faults = getattr(request, "param", list(ATTESTATION_FAULTS))
    started = AttestationWorld(AttestationSpec(faults=faults)).start()
    yield started
    started.stop()


def test_every_fault_gives_exactly_its_findings(world: AttestationWorld) -> None:
    findings = judge(world)
    expected = {(e["check_id"], e["entity_type"], e["entity_id"]) for f in world.faults for e in f["expected_findings"]}
    assert len(world.faults) == len(ATTESTATION_FAULTS) and keys(findings) == expected
    hidden = {world.items[VICTIMS["TOPIC_RUNNING_HASH_INVALID"]].record_id,
              world.items[VICTIMS["TOPIC_SEQUENCE_GAP"]].record_id}  # fmt: skip
    assert keys(findings, "unknown") == {("ATTESTATION_MISSING", "chat_record", r) for r in hidden}


@pytest.mark.parametrize("world", [[]], indirect=True)
def test_a_clean_world_gives_nothing(world: AttestationWorld) -> None:
    assert judge(world) == []


@pytest.mark.parametrize("world", [["PIN_REDUNDANCY_LOW"]], indirect=True)
def test_an_unreadable_service_never_fails_a_cid_it_could_hold(world: AttestationWorld) -> None:
    next(iter(world.services.values())).faults.arm("error")  # the one service holding the under-pinned CID
    findings = judge(world)
    under = world.items[VICTIMS["PIN_REDUNDANCY_LOW"]].cid
    assert keys(findings) == {("PIN_REDUNDANCY_LOW", "cid", under)}  # 0 of the 2 readable: short even with it
    list(world.services.values())[1].faults.arm("error")
    findings = judge(world)
    assert keys(findings) == set() and ("PIN_REDUNDANCY_LOW", "cid", under) in keys(findings, "unknown")


def test_an_unreadable_topic_judges_no_attestation(world: AttestationWorld) -> None:
    world.mirror.faults.arm("down")
    settings = world.settings_document()["hedera"]
    snapshot = read_attestations(settings["mirror_url"], TOPIC, {}, [])
    assert snapshot.messages is None and snapshot.topic_error is not None
