"""Manual-review items close when a complete read no longer finds their problem, or when an operator says so."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

from reconcile_pipeline.cli import main
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.actions import MANUAL, Action
from reconcile_pipeline.repairs.current import plan_and_apply
from reconcile_pipeline.repairs.ledger import Ledger
from reconcile_pipeline.repairs.queue_review import cleared_items
from tests.worldkit import running_world


def finding(check: str, entity: str, status: str = "fail") -> dict:
    return {"check_id": check, "entity_type": "nft", "entity_id": entity, "status": status}


def item(check: str, entity: str) -> dict:
    return {"id": f"{check}/{entity}", "check_id": check, "entity_id": entity}


ITEMS = [item("CHAIN_METADATA_MUTABLE", "m1"), item("CHAIN_METADATA_MUTABLE", "m2"), item("BLOCK_HASH_INVALID", "7")]


@pytest.mark.parametrize(
    ("findings", "cleared"),
    [
        ([], {"CHAIN_METADATA_MUTABLE/m1", "CHAIN_METADATA_MUTABLE/m2", "BLOCK_HASH_INVALID/7"}),
        ([finding("CHAIN_METADATA_MUTABLE", "m1")], {"CHAIN_METADATA_MUTABLE/m2", "BLOCK_HASH_INVALID/7"}),
        ([finding("CHAIN_METADATA_MUTABLE", "m2", "unknown")], {"CHAIN_METADATA_MUTABLE/m1", "BLOCK_HASH_INVALID/7"}),
        ([finding("CHAIN_METADATA_MUTABLE", "*", "unknown")], {"BLOCK_HASH_INVALID/7"}),  # the layer was unreadable
        ([finding("BLOCK_HASH_INVALID", 7)], {"CHAIN_METADATA_MUTABLE/m1", "CHAIN_METADATA_MUTABLE/m2"}),
        ([finding("CHAIN_METADATA_MUTABLE", "m1", "pass")], {item["id"] for item in ITEMS}),
    ],
)
def test_cleared_items(findings: list[dict], cleared: set[str]) -> None:
    frame = pd.DataFrame(findings, columns=["check_id", "entity_type", "entity_id", "status"])
    assert {found["id"] for found in cleared_items(ITEMS, frame)} == cleared


def queue_item(db: DatabaseClient, check: str, entity: str) -> str:
    action = Action(check, "nft", entity, MANUAL, "warning", reason="seen by an earlier run")
    assert Ledger(db, "test").enqueue(action, "plan", action.reason)
    return action.action_id


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture
def clean_world(tmp_path):
    with running_world(tmp_path, seed=5, nfts=6, blocks=4, faults="none") as (world, settings):
        yield world, settings, str(tmp_path / "reconcile.toml")


def test_a_complete_apply_clears_what_it_no_longer_finds_but_not_under_an_outage(clean_world) -> None:
    world, settings, _ = clean_world
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        gone = queue_item(db, "CHAIN_METADATA_MUTABLE", world.manifest()["mints"][0])
        world.servers.solana.faults.mode = "down"  # the chain cannot be read: unknown keeps the item open
        _, report = plan_and_apply(settings, execute=True)
        assert report.cleared == [] and len(Ledger(db, "t").queue("open")) == 1
        world.servers.solana.faults.reset()
        _, dry = plan_and_apply(settings)  # a dry run writes nothing, the queue included
        assert dry.cleared == [] and len(Ledger(db, "t").queue("open")) == 1
        _, report = plan_and_apply(settings, execute=True)
        assert report.cleared == [gone]
        (resolved,) = Ledger(db, "t").queue("resolved")
    assert resolved["resolved_at"] is not None
    assert resolved["history"][-1]["event"] == "cleared" and "no longer found by the plan of" in str(
        resolved["history"][-1]["detail"]
    )


def test_an_operator_resolves_an_item(clean_world) -> None:
    _, settings, config = clean_world
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        action_id = queue_item(db, "CHAIN_METADATA_MUTABLE", "somemint")
    assert cli("repair", "queue", "--config", config, "--resolve", "Rnope")[0] == 2
    code, text = cli("repair", "queue", "--config", config, "--resolve", action_id, "--note", "made immutable")
    assert code == 0 and f"resolved {action_id}" in text
    assert cli("repair", "queue", "--config", config, "--resolve", action_id)[0] == 2  # no longer open
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        (resolved,) = Ledger(db, "t").queue("resolved")
    assert (resolved["history"][-1]["event"], resolved["history"][-1]["detail"]) == ("resolved", "made immutable")
    assert "queue is empty" in cli("repair", "queue", "--config", config)[1]
