"""Crash safety of `repair apply` (issue 9, item 4): kill -9 at random points, then resume; two applies at once.

A reference world applies its plan uninterrupted. Worlds built from the same spec and the same frozen clock
are identical, so another world's layers must end exactly as the reference's, and every write effect
(KV PUT/DELETE by key, Pinata pins by CID, R2 PUT/DELETE by key, minting_operations INSERT/UPDATE by row,
counted by the servers and a database trigger, not by the process that dies) must happen as often as in the
reference: once. The kill points come from a fixed seed: the crash hook after a random number of writes
and plain SIGKILL a random delay into the apply, each in a child applying the plan file (the CLI with the
hook is tests/test_repairs_resilience.py). The claim is the lock: two sessions racing for each action,
and two applies started at once on one plan, apply each action once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from reconcile_pipeline.db.migrate import migrate
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.actions import Action
from reconcile_pipeline.repairs.apply import CRASH_ENV, apply_plan
from reconcile_pipeline.repairs.archive import ContentArchive
from reconcile_pipeline.repairs.current import current_plan, plan_and_apply
from reconcile_pipeline.repairs.ledger import Ledger
from reconcile_pipeline.sandbox import nft_world
from reconcile_pipeline.sandbox.build import build_world
from reconcile_pipeline.sandbox.worlddata import WorldSpec, utcnow
from tests.test_crash_support import (
    APPLY_CHILD,
    Effects,
    kill_after,
    layer_state,
    ledger_rows,
    output,
    queue_rows,
    start_child,
)
from tests.worldkit import running_world

SEED, NFTS, BLOCKS = 13, 10, 12  # every automatic repair kind: DB, source files, IPFS, R2, KV, the delete
KILL_SEED = 9


@pytest.fixture(scope="module")
def frozen_clock():
    """One world clock for every world of this module: same spec, same bytes."""
    frozen = utcnow()
    patch = pytest.MonkeyPatch()
    patch.setattr(nft_world, "utcnow", lambda: frozen)
    yield frozen
    patch.undo()


@contextlib.contextmanager
def repair_world(folder):
    """A faulty world, its archive holding the clean twin's content, its writes counted."""
    with running_world(folder, seed=SEED, nfts=NFTS, blocks=BLOCKS) as (world, settings):
        archive = ContentArchive.from_settings(settings)
        for cid, data in build_world(WorldSpec(seed=SEED, nfts=NFTS, blocks=BLOCKS, faults=[])).content.items():
            archive.put(cid, data)
        archive.close()
        effects = Effects().install(world, settings.database.url.get_secret_value())
        yield world, settings, effects


def destructive(plan) -> list[str]:
    return plan.loc[plan["destructive"], "action_id"].tolist()


def ledger_summary(settings) -> dict[str, str]:
    return {row["idempotency_key"]: row["status"] for row in ledger_rows(settings)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, frozen_clock):
    with repair_world(tmp_path_factory.mktemp("reference")) as (world, settings, effects):
        plan = current_plan(settings)
        started = time.monotonic()
        report = apply_plan(settings, plan, execute=True, approve=destructive(plan))
        apply_s = time.monotonic() - started
        _, again = plan_and_apply(settings, execute=True)
        rows = ledger_rows(settings)
        written = sum(1 for row in rows for e in row["history"] if e["event"] == "applied" and e["detail"] == "written")
        yield SimpleNamespace(plan=plan, report=report, again=again, apply_s=apply_s, writes=effects.write_counts(),
                              state=layer_state(world, settings), ledger=ledger_summary(settings), written=written,
                              queue=len(queue_rows(settings)))  # fmt: skip


def test_the_reference_repairs_everything_in_one_apply_each_effect_once(reference):
    assert set(reference.report.counts()) == {"verified", "queued"}
    assert set(reference.again.counts()) == {"in queue"}  # converged: a fresh plan has nothing automatic left
    layers = Counter(layer for layer, _, _ in reference.writes)
    assert layers == {"database": 4, "kv": 5, "r2": 3, "pinata": 1}
    assert set(reference.writes.values()) == {1}
    assert set(reference.ledger.values()) == {"verified"} and len(reference.ledger) == 17


def assert_no_duplicate_so_far(effects: Effects, reference) -> None:
    """At any moment: no write the reference did not make, none made more often than there."""
    extra = {key: n for key, n in effects.write_counts().items() if n > reference.writes.get(key, 0)}
    assert extra == {}


def test_kill_minus_nine_mid_apply_then_resume_applies_each_repair_once(tmp_path, reference):
    rng = random.Random(KILL_SEED)
    with repair_world(tmp_path) as (world, settings, effects):
        config = str(tmp_path / "reconcile.toml")
        plan = current_plan(settings)
        assert list(plan["action_id"]) == list(reference.plan["action_id"])  # the same world, the same plan
        plan.to_parquet(tmp_path / "plan.parquet")
        approve = destructive(plan)
        writes = reference.written  # the crash hook counts one write per action that writes
        killed = []

        # 1, 2. the crash hook right after a random N-th write (the write made, the ledger not told), twice
        for attempt in range(2):
            n = rng.randint(1, writes // 3)
            child = apply_child(tmp_path, config, approve, f"hook{attempt}", {CRASH_ENV: str(n)})
            assert child.wait(timeout=300) == -signal.SIGKILL, output(child)[1][-2000:]
            killed.append(("hook", n))
            unfinished = [row for row in ledger_rows(settings) if row["status"] == "applying"]
            assert len(unfinished) == 1  # the action whose write the hook interrupted (the one before: resumed)
            assert_no_duplicate_so_far(effects, reference)

        # 3, 4. plain SIGKILL a random delay into the apply (after imports and the plan are loaded)
        for attempt in range(2):
            delay = rng.uniform(0.05, 1.5 * reference.apply_s)
            child = apply_child(tmp_path, config, approve, f"sigkill{attempt}")
            if kill_after(child, delay, ready=tmp_path / f"barrier-sigkill{attempt}" / f"sigkill{attempt}"):
                killed.append(("sigkill", round(delay, 2)))
            assert_no_duplicate_so_far(effects, reference)

        # the rerun: the same plan (the reference shows a fresh plan has nothing automatic left after it)
        final = apply_plan(settings, plan, execute=True, approve=approve)
        rows, queue, state = ledger_rows(settings), queue_rows(settings), layer_state(world, settings)

    assert len(killed) >= 3, killed
    assert "failed" not in final.counts()
    assert effects.write_counts() == reference.writes  # every effect exactly once, none twice
    assert state == reference.state
    assert {row["idempotency_key"]: row["status"] for row in rows} == reference.ledger
    assert len({row["idempotency_key"] for row in rows}) == len(rows)
    events = [event["event"] for row in rows for event in row["history"]]
    assert events.count("resumed") >= 2  # each hook kill left one claim 'applying': taken over, not redone
    assert len(queue) == reference.queue


def apply_child(folder, config: str, approve: list[str], name: str, env: dict | None = None, script: str = ""):
    barrier = folder / f"barrier-{name}"
    barrier.mkdir()
    plan = str(folder / "plan.parquet")
    return start_child(["-c", script + APPLY_CHILD, config, plan, ",".join(approve), str(barrier), name, "1"],
                       folder / name, env)  # fmt: skip


DIE_AFTER_R2_DELETE = r"""
import os, signal
from reconcile_pipeline.layers.r2 import R2Client
delete = R2Client.delete_sync
def delete_then_die(self, key):
    delete(self, key)
    os.kill(os.getpid(), signal.SIGKILL)
R2Client.delete_sync = delete_then_die
"""


def test_killed_between_the_destructive_delete_and_its_count_the_resume_writes_only_the_count(tmp_path):
    with running_world(tmp_path, seed=SEED, nfts=4, blocks=BLOCKS, faults="PENDING_ALREADY_MINED") as (world, settings):
        effects = Effects().install(world)
        plan = current_plan(settings)
        plan.to_parquet(tmp_path / "plan.parquet")
        config, approve = str(tmp_path / "reconcile.toml"), destructive(plan)
        child = apply_child(tmp_path, config, approve, "delete", script=DIE_AFTER_R2_DELETE)
        assert child.wait(timeout=300) == -signal.SIGKILL, output(child)[1][-2000:]
        deleted = next(key for layer, method, key in effects.write_counts() if (layer, method) == ("r2", "DELETE"))
        assert effects.write_counts() == {("r2", "DELETE", deleted): 1}  # killed before the count was written

        resumed = apply_plan(settings, plan, execute=True, approve=approve)
        row = next(row for row in ledger_rows(settings) if row["repair"] == "DELETE_MINED_PENDING")

    assert [o["result"] for o in resumed.outcomes if o["action_id"] == approve[0]] == ["verified"]
    assert effects.write_counts() == {("r2", "DELETE", deleted): 1, ("kv", "PUT", "vdc%3Apending%3Acount"): 1}
    assert [e["event"] for e in row["history"]] == ["planned", "claimed", "resumed", "applied", "verified"]
    assert json.loads(row["state_before"]["value"])["txId"] == row["entity_id"]  # the deleted copy, kept
    assert row["state_after"] == {"deleted": None, "pending_count": row["state_after"]["pending_count"]}


def test_the_claim_is_the_lock_two_sessions_racing_for_each_action_one_wins(db_url):
    migrate(db_url)
    actions = [Action("CHAIN_URI_MISMATCH", "nft", f"mint{i}", "DB_UPDATE_URIS_FROM_CHAIN", "error", {"i": i})
               for i in range(12)]  # fmt: skip
    with DatabaseClient(db_url) as db:
        rows = [Ledger(db, "planner").ensure(action) for action in actions]
    start, won = threading.Barrier(2), {0: [], 1: []}

    def contend(index: int) -> None:
        with DatabaseClient(db_url) as db:
            ledger = Ledger(db, f"{socket.gethostname()}:{os.getpid()}:contender{index}")
            for row in rows:
                start.wait(timeout=30)
                if ledger.claim(row) is not None:
                    won[index].append(row["action_id"])

    threads = [threading.Thread(target=contend, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(won[0] + won[1]) == sorted(row["action_id"] for row in rows)  # each exactly once
    with DatabaseClient(db_url) as db:
        stored = Ledger(db, "reader").rows()
    assert {row["attempts"] for row in stored} == {1} and {row["status"] for row in stored} == {"applying"}
    assert all([e["event"] for e in row["history"]] == ["planned", "claimed"] for row in stored)


def test_two_applies_at_once_on_one_plan_apply_each_action_once(tmp_path, reference):
    with repair_world(tmp_path) as (world, settings, effects):
        config = str(tmp_path / "reconcile.toml")
        plan = current_plan(settings)
        plan.to_parquet(tmp_path / "plan.parquet")
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        args = [config, str(tmp_path / "plan.parquet"), ",".join(destructive(plan)), str(barrier)]
        children = [start_child(["-c", APPLY_CHILD, *args, f"apply{i}", "2"], tmp_path / f"apply{i}") for i in (0, 1)]
        for child in children:
            assert child.wait(timeout=300) == 0, output(child)[1][-2000:]
        reports = [json.loads(output(child)[0]) for child in children]
        rows = ledger_rows(settings)
        state = layer_state(world, settings)

    results = {}
    for outcomes in reports:
        for outcome in outcomes:
            results.setdefault(outcome["action_id"], []).append(outcome["result"])
    automatic = set(plan.loc[plan["repair"] != "MANUAL_REVIEW", "action_id"])
    for action_id, seen in results.items():
        done = "verified" if action_id in automatic else "queued"
        assert seen.count(done) == 1, (action_id, seen)  # one apply did it; the other saw it busy or done
        assert set(seen) <= {done, "busy", "already done", "in queue"}, (action_id, seen)
    assert [row["attempts"] for row in rows] == [1] * len(rows)  # each action claimed once, by one apply
    assert all([e["event"] for e in row["history"]].count("claimed") == 1 for row in rows)
    assert effects.write_counts() == reference.writes
    assert state == reference.state
