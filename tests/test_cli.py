"""The `reconcile` command: demo in process, `world up` as a real process stopped by signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from reconcile_pipeline.cli import main
from reconcile_pipeline.settings import load_settings


def test_demo_exits_zero_and_prints_every_layer(tmp_path, capsys):
    assert main(["demo", "--nfts", "12", "--blocks", "6", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for asset in ("source_images", "solana_metadata_accounts", "ipfs_objects", "blockstore_kv", "blockstore_r2"):
        assert asset in out
    assert list((tmp_path / "data" / "snapshots").glob("*/*.parquet"))


def test_bad_fault_id_is_a_clear_error(capsys):
    assert main(["demo", "--faults", "NOPE"]) == 2
    assert "unknown fault ids" in capsys.readouterr().err


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def _wait_for(path, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"world up did not write {path}: {process.stdout.read()}")
        time.sleep(0.2)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_world_up_runs_until_signalled_then_stops_its_servers(tmp_path, signum):
    config, manifest = tmp_path / "world.toml", tmp_path / "manifest.json"
    args = [
        "world",
        "up",
        "--nfts",
        "8",
        "--blocks",
        "4",
        "--faults",
        "none",
        "--dir",
        str(tmp_path / "w"),
        "--config",
        str(config),
        "--manifest",
        str(manifest),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "reconcile_pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        _wait_for(manifest, process)
        time.sleep(0.3)
        settings = load_settings(config)
        urls = [
            settings.solana.rpc_url,
            settings.pinata.api_url,
            *settings.ipfs.gateways,
            settings.blockstore.r2_endpoint_url,
        ]
        assert all(_port_open(url) for url in urls)
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in urls)
        assert json.loads(manifest.read_text())["expected_findings"] == []
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0
        assert not any(_port_open(url) for url in urls)
    finally:
        if process.poll() is None:
            process.kill()


def test_ui_binds_loopback_and_stops_with_its_children(tmp_path):
    """`reconcile ui` started in the background: serves on 127.0.0.1, SIGTERM stops dagster dev and its children."""
    import httpx

    port = 3400 + os.getpid() % 500
    env = os.environ | {"DAGSTER_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconcile_pipeline.cli", "ui", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the UI did not come up"
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        time.sleep(1)
        assert not _port_open(f"http://127.0.0.1:{port}")
        leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "home")], capture_output=True, text=True).stdout
        assert leftovers.strip() == ""
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
