"""`reconcile blocks status` with a tier of the block store unreachable (a dead port, real protocols): it says
which tier could not be read and exits 3, never printing an empty store (issue 16, point 7)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from reconcile_pipeline.checks.block_checks import run_block_checks
from reconcile_pipeline.checks.block_join import build_block_consistency
from reconcile_pipeline.checks.block_status import block_metrics, block_statuses, unreadable_tiers
from reconcile_pipeline.cli import main
from reconcile_pipeline.commands import _block_frames
from reconcile_pipeline.settings import load_settings
from tests.worldkit import running_world

FAST = {
    "RECONCILE_HTTP__MAX_RETRY_ATTEMPTS": "1",
    "RECONCILE_HTTP__RETRY_DELAY_S": "0.01",
    "RECONCILE_HTTP__RETRY_MAX_DELAY_S": "0.05",
    "RECONCILE_HTTP__TIMEOUT_S": "2",
}
BLOCKS = 6


def dead_url() -> str:
    """A loopback address nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blocks-status")
    with running_world(folder, seed=6, nfts=2, blocks=BLOCKS, faults="none"), pytest.MonkeyPatch.context() as env:
        for name, value in FAST.items():
            env.setenv(name, value)
        yield str(folder / "reconcile.toml")


def status(config: str, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["blocks", "status", "--config", config, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_healthy_store_is_complete_and_exits_0(config, capsys):
    code, out, _ = status(config, capsys, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["totalBlocks"] == BLOCKS and report["unreadable"] == {}
    assert report["summary"] == {"complete": BLOCKS, "incomplete": 0, "unknown": 0}
    metrics = run_block_metrics(config)
    assert (metrics["total_blocks"], metrics["highest_block"]) == (BLOCKS, BLOCKS - 1)
    assert "unreadable_tiers" not in metrics


def test_kv_unreachable_is_unknown_not_empty(config, capsys, monkeypatch):
    monkeypatch.setenv("RECONCILE_BLOCKSTORE__KV_API_URL", dead_url() + "/client/v4")
    code, out, err = status(config, capsys, "--json")
    report = json.loads(out)
    assert code == 3
    assert report["totalBlocks"] is None  # not 0: nobody could list the blocks
    assert set(report["unreadable"]) == {"kv"} and "kv" in report["unreadable"]["kv"]
    assert "kv could not be read" in err
    code, out, _ = status(config, capsys)
    assert code == 3
    assert "total 0" not in out and "total unknown" in out and "kv: could not be read" in out
    metrics = run_block_metrics(config)  # the run's and the report's block-store numbers say the same
    assert metrics["total_blocks"] is None and metrics["highest_block"] is None
    assert metrics["unreadable_tiers"] == ["kv"]


def run_block_metrics(config: str) -> dict:
    settings = load_settings(config)
    frames = asyncio.run(_block_frames(settings))
    blocks = build_block_consistency(frames, settings)
    findings = run_block_checks(frames, settings, blocks=blocks)
    return block_metrics(block_statuses(blocks, findings), findings, unreadable_tiers(frames))


def test_r2_unreachable_leaves_every_block_unknown(config, capsys, monkeypatch):
    monkeypatch.setenv("RECONCILE_BLOCKSTORE__R2_ENDPOINT_URL", dead_url())
    code, out, _ = status(config, capsys, "--json")
    report = json.loads(out)
    assert code == 3
    assert report["totalBlocks"] == BLOCKS and set(report["unreadable"]) == {"r2"}
    assert report["summary"] == {"complete": 0, "incomplete": 0, "unknown": BLOCKS}
    assert {block["r2"] for block in report["blocks"]} == {None}
