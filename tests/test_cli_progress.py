"""Progress of `reconcile run` on a terminal (a pseudo-terminal here): stage names, snapshot lines with their
layers, a final summary naming each unreadable layer; nothing of it without a tty or with --quiet; with --json
stdout stays pure JSON."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from tests.worldkit import running_world

STAGES = ("snapshots", "joins", "checks", "suites", "repairs", "report")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves of the live display
SNAPSHOT_LINE = re.compile(r"snapshot (\w+) .*? (\d+) records +(\d+) requests +(\d+) errors")
LAYERS = ("source_images", "database", "solana", "pinata", "ipfs", "kv", "r2")


def _reconcile(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    """Run the CLI in a subprocess; stderr on a pseudo-terminal (``tty``) or a pipe; stdout on a pipe."""
    command = [sys.executable, "-m", "reconcile_pipeline", *args]
    env = os.environ | {"COLUMNS": "200", "TERM": "xterm"}
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout = process.stdout.read()
    code = process.wait(timeout=600)
    os.close(master)
    return code, stdout, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress")
    with running_world(folder, seed=5, nfts=6, blocks=4, faults="CHAIN_METADATA_MUTABLE") as (world, settings):
        yield world, str(folder / "reconcile.toml")


def test_terminal_shows_stages_layers_and_a_summary_and_stdout_stays_json(world):
    live, config = world
    live.servers.kv.faults.mode = "down"
    try:
        code, out, err = _reconcile(["run", "--cadence", "regular", "--config", config, "--json"], tty=True)
    finally:
        live.servers.kv.faults.mode = "ok"
    assert code == 1, err[-3000:]  # the world's failing finding wins over KV's unknowns
    assert isinstance(json.loads(out), list)
    for stage in STAGES:
        assert stage in err
    for snapshot in ("source_images", "db_minting_operations", "solana_metadata_accounts", "blockstore_kv"):
        assert f"snapshot {snapshot}" in err
    for layer in LAYERS:
        assert f"layer {layer}" in err
    summary = [line for line in err.splitlines() if line.startswith("layers: ")]
    assert len(summary) == 1 and "unreadable: kv (blockstore_kv:" in summary[0]
    counts = {match[0]: (int(match[1]), int(match[2]), int(match[3])) for match in SNAPSHOT_LINE.findall(err)}
    assert counts["blockstore_kv"][1] >= 1 and counts["blockstore_kv"][2] >= 1  # refused: sent and failed
    assert counts["source_images"][1:] == (0, 0)  # files: no request
    assert counts["solana_metadata_accounts"][1] >= 1 and counts["solana_metadata_accounts"][2] == 0
    assert counts["db_minting_operations"][0] > 0  # records read


@pytest.mark.parametrize("quiet", [False, True])
def test_no_progress_without_a_terminal_or_with_quiet(world, quiet):
    _, config = world
    args = ["run", "--cadence", "regular", "--config", config, "--json"] + (["--quiet"] if quiet else [])
    code, out, err = _reconcile(args, tty=quiet)
    assert code == 1  # CHAIN_METADATA_MUTABLE fails
    assert isinstance(json.loads(out), list)
    assert "snapshot " not in err and "layers: " not in err and "suites" not in err
