"""Automatic repairs copy only a truth that passes every check of its own entity (issue 16, point 6).

Faults made by hand through the database's own protocol (SQL) on a world with two catalogue faults, so the
chain and IPFS side of three entities is suspect while the database disagrees with it:

- the IPFS_SOURCE_MISMATCH victim's ``image_uri`` set back to the level's real image: its metadata's ``image``
  (another file than the level's source) must not be copied into the database;
- two rows of different levels swap their mint addresses: each would get the other's URIs;
- the CHAIN_METADATA_MUTABLE victim's row deleted: an on-chain mint with our update authority and mutable
  metadata must not get a row inserted.

Each finding the check would have repaired says MANUAL_REVIEW with the reason, the plan has the same entry,
and an executed apply writes none of those rows.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from reconcile_pipeline.checks.findings import findings_records
from reconcile_pipeline.repairs.apply import apply_plan
from reconcile_pipeline.repairs.current import plan_now
from tests.worldkit import running_world

FAULTS = "IPFS_SOURCE_MISMATCH,CHAIN_METADATA_MUTABLE"
COLUMNS = "id, mint_address, level, status, metadata_uri, image_uri"


def rows(engine: sa.Engine) -> dict[str, dict]:
    with engine.begin() as conn:
        result = conn.execute(sa.text(f"SELECT {COLUMNS} FROM minting_operations ORDER BY id"))
        return {row.id: dict(row._mapping) for row in result}


def by_mint(table: dict[str, dict]) -> dict[str, dict]:
    return {row["mint_address"]: row for row in table.values()}


def hand_faults(engine: sa.Engine, faults: dict[str, str]) -> dict[str, object]:
    table = by_mint(rows(engine))
    mismatched, mutable = table[faults["IPFS_SOURCE_MISMATCH"]], table[faults["CHAIN_METADATA_MUTABLE"]]
    clean = [r for r in table.values() if r["mint_address"] not in faults.values()]
    real_image = next(r["image_uri"] for r in clean if r["level"] == mismatched["level"])
    first = clean[0]
    second = next(r for r in clean if r["level"] not in (first["level"], mismatched["level"]))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE minting_operations SET image_uri = :uri WHERE id = :id"),
                     {"uri": real_image, "id": mismatched["id"]})  # fmt: skip
        swap = "UPDATE minting_operations SET mint_address = :mint WHERE id = :id"
        conn.execute(sa.text(swap), {"mint": "swapping", "id": first["id"]})
        conn.execute(sa.text(swap), {"mint": first["mint_address"], "id": second["id"]})
        conn.execute(sa.text(swap), {"mint": second["mint_address"], "id": first["id"]})
        conn.execute(sa.text("DELETE FROM minting_operations WHERE id = :id"), {"id": mutable["id"]})
    return {"image": mismatched["mint_address"], "swapped": {first["mint_address"], second["mint_address"]},
            "deleted": mutable["mint_address"], "swapped_ids": {first["id"], second["id"]}}  # fmt: skip


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    with running_world(tmp_path_factory.mktemp("truth"), seed=5, nfts=12, blocks=4, faults=FAULTS) as (world, settings):
        faults = {f["fault"]: f["entity_id"] for f in world.manifest()["faults"]}
        engine = sa.create_engine(settings.database.url.get_secret_value())
        made = hand_faults(engine, faults)
        before = rows(engine)
        judgement, plan = plan_now(settings)
        report = apply_plan(settings, plan, execute=True)
        yield made, judgement, plan, report, before, rows(engine)


def fails_of(judgement, mint: str) -> dict[str, dict]:
    records = findings_records(judgement.findings)
    return {r["check_id"]: r for r in records if r["entity_id"] == mint and r["status"] == "fail"}


def planned(plan, mint: str) -> dict[str, str]:
    return dict(zip(plan.loc[plan["entity_id"] == mint, "check_id"], plan.loc[plan["entity_id"] == mint, "repair"],
                    strict=True))  # fmt: skip


def test_an_image_that_is_not_the_levels_source_is_not_copied_into_the_database(judged):
    made, judgement, plan, *_ = judged
    found = fails_of(judgement, made["image"])
    assert set(found) == {"IPFS_SOURCE_MISMATCH", "DB_IPFS_REFERENCE_MISMATCH"}
    reference = found["DB_IPFS_REFERENCE_MISMATCH"]
    assert reference["repair"] == "MANUAL_REVIEW" and "IPFS_SOURCE_MISMATCH" in reference["details"]["review_reason"]
    assert planned(plan, made["image"]) == {check: "MANUAL_REVIEW" for check in found}


def test_rows_that_swapped_mint_addresses_do_not_get_each_others_uris(judged):
    made, judgement, plan, *_ = judged
    for mint in made["swapped"]:
        found = fails_of(judgement, mint)
        assert {"CHAIN_URI_MISMATCH", "DB_IPFS_REFERENCE_MISMATCH", "IPFS_METADATA_INVALID"} <= set(found)
        assert {r["repair"] for r in found.values()} == {"MANUAL_REVIEW"}
        assert "IPFS_METADATA_INVALID" in found["CHAIN_URI_MISMATCH"]["details"]["review_reason"]
        assert planned(plan, mint) == {check: "MANUAL_REVIEW" for check in found}


def test_an_unknown_mint_with_mutable_metadata_gets_no_row_inserted(judged):
    made, judgement, plan, *_ = judged
    found = fails_of(judgement, made["deleted"])
    assert set(found) == {"BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "CHAIN_METADATA_MUTABLE"}
    created = found["BLOCKCHAIN_SUCCESS_DATABASE_FAILURE"]
    assert created["repair"] == "MANUAL_REVIEW" and "CHAIN_METADATA_MUTABLE" in created["details"]["review_reason"]
    assert planned(plan, made["deleted"]) == {check: "MANUAL_REVIEW" for check in found}


def test_the_plan_has_the_findings_repairs_and_an_executed_apply_writes_no_row(judged):
    _, judgement, plan, report, before, after = judged
    fails = judgement.findings[judgement.findings["status"] == "fail"]
    assert sorted(zip(fails["check_id"], fails["entity_id"], fails["repair"], strict=True)) == sorted(
        zip(plan["check_id"], plan["entity_id"], plan["repair"], strict=True))  # fmt: skip
    assert set(plan["repair"]) == {"MANUAL_REVIEW"}
    assert after == before
    assert {o["result"] for o in report.outcomes} == {"queued"}
