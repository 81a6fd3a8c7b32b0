"""The `reconcile` command: demo in process, `world up` as a real process stopped by signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from reconcile_pipeline.cli import main
from reconcile_pipeline.settings import load_settings


def test_demo_exits_zero_and_prints_every_layer(tmp_path, capsys):
    assert main(["demo", "--nfts", "12", "--blocks", "6", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for asset in ("source_images", "solana_metadata_accounts", "ipfs_objects", "blockstore_kv", "blockstore_r2"):
        assert asset in out
    assert list((tmp_path / "data" / "snapshots").glob("*/*.parquet"))


def test_demo_without_dir_removes_its_temporary_folder_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--nfts", "8", "--blocks", "4", "--faults", "DB_DUPLICATE_MINT"]) == 0
    out = capsys.readouterr().out
    assert "9 NFTs (8 asked, +1: DB_DUPLICATE_MINT adds a second completed mint for one wallet and level)" in out
    (folder,) = re.findall(r"removed the temporary folder (\S+) ", out)
    assert folder.startswith(str(tmp_path / "reconcile-demo-")) and not Path(folder).exists()
    assert list(tmp_path.glob("reconcile-demo-*")) == []


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
    log = (tmp_path / "ui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "reconcile_pipeline.cli", "ui", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
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
        # issue 18: the operator sees where the instance is; no supersession warning, no telemetry banner
        output = (tmp_path / "ui.log").read_text()
        assert f"reconcile ui: Dagster instance {tmp_path / 'home'} (SQLite); UI on http://127.0.0.1:{port}" in output
        assert "superseded" not in output and "Telemetry" not in output
        assert "enabled: false" in (tmp_path / "home" / "dagster.yaml").read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


# -- issue 18: strict settings stop every command; exit statuses; help ------------------------------------
BAD_TOML = '[solana]\nrpc_ulr = "http://127.0.0.1:1"\n'
TYPO = "[solana] rpc_ulr: unknown setting (did you mean rpc_url?)"
CONFIG_COMMANDS = [
    ["run"],
    ["run", "--cadence", "deep"],
    ["ui"],
    ["repair", "plan"],
    ["repair", "apply"],
    ["repair", "queue"],
    ["report"],
    ["blocks", "status"],
    ["alerts", "list"],
    ["alerts", "deliver"],
    ["alerts", "test"],
    ["prune"],
]


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured
    return lines[0]


@pytest.mark.parametrize("command", CONFIG_COMMANDS, ids=" ".join)
def test_a_bad_setting_stops_every_command_with_exit_2(tmp_path, capsys, command):
    config = tmp_path / "bad.toml"
    config.write_text(BAD_TOML)
    assert main([*command, "--config", str(config)]) == 2
    assert _one_line_error(capsys) == f"reconcile: bad settings in {config}: {TYPO}"


@pytest.mark.parametrize("command", [*CONFIG_COMMANDS, ["world", "up", "--config", "w.toml", "--manifest", "m.json"],
                                     ["demo"], ["bench", "table"]], ids=" ".join)  # fmt: skip
def test_a_bad_variable_stops_every_command_with_exit_2(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILE_SOLANA__RPC_ULR", "http://127.0.0.1:1")
    assert main(command) == 2
    expected = "RECONCILE_SOLANA__RPC_ULR: unknown setting (did you mean RECONCILE_SOLANA__RPC_URL?)"
    assert _one_line_error(capsys) == f"reconcile: bad settings: {expected}"
    assert list(tmp_path.iterdir()) == []  # nothing was started or written


def test_bad_urls_are_named_on_one_line(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[solana]\nrpc_url = "not a url"\n[ipfs]\ngateways = ["htp:/nowhere", "ftp://x"]\n')
    assert main(["run", "--config", str(config)]) == 2
    line = _one_line_error(capsys)
    assert "[solana] rpc_url: 'not a url' is not an http(s) URL" in line
    assert "[ipfs] gateways[0]: 'htp:/nowhere'" in line and "[ipfs] gateways[1]: 'ftp://x'" in line


def test_ui_with_a_missing_config_starts_nothing(tmp_path):
    """The real command: `reconcile ui --config /nope.toml` exits 2 before Dagster starts."""
    env = os.environ | {"DAGSTER_HOME": str(tmp_path / "home")}
    nope = str(tmp_path / "nope.toml")
    process = subprocess.run([sys.executable, "-m", "reconcile_pipeline", "ui", "--config", nope],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert process.returncode == 2
    assert process.stderr.strip() == f"reconcile: config file not found: {nope}"
    assert not (tmp_path / "home").exists()


def test_blocks_status_without_a_block_store_names_the_settings(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["blocks", "status"]) == 2
    line = _one_line_error(capsys)
    assert line.startswith("reconcile: bad settings: [blockstore] kv_account_id: not set (")
    assert "[blockstore] r2_endpoint_url: not set" in line


def test_help_describes_every_command_on_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    commands = ["world", "demo", "run", "verify", "blocks", "ui", "alerts", "bench", "repair", "report", "prune"]
    listed = {line.split()[0]: line for line in out.splitlines() if line.startswith("    ") and line.strip()}
    assert set(listed) == set(commands)
    for command in commands:
        assert len(listed[command].split()) > 3, listed[command]  # the name and its description, on that one line
    assert "exit status: 0 every check in scope judged" in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "immediate, frequent, regular, deep (default: regular)" in " ".join(out.split())
    assert "--exit-zero" in out and "3 nothing failing but checks left unknown" in " ".join(out.split())


def test_bench_help_says_reconcile_bench():
    process = subprocess.run([sys.executable, "-m", "reconcile_pipeline", "bench", "--help"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert process.returncode == 0
    assert process.stdout.startswith("usage: reconcile bench ")


def test_run_exit_status_follows_the_findings(tmp_path, capsys):
    """0 all judged and none failing; 3 a layer down (nothing failing); 1 a failing finding; --exit-zero: 0."""
    from tests.worldkit import remove_r2_block, running_world

    config = str(tmp_path / "reconcile.toml")
    run = ["run", "--cadence", "regular", "--config", config]
    with running_world(tmp_path, seed=3, nfts=6, blocks=4, faults="none") as (world, settings):
        assert main(run) == 0
        assert "reconcile: exit 0: every check in scope judged, none failing" in capsys.readouterr().err
        world.servers.solana.faults.mode = "down"
        assert main(run) == 3
        out, err = capsys.readouterr()
        assert "0 failing" in out and "reconcile: exit 3: nothing failing, but" in err and "could not be read" in err
        assert main([*run, "--exit-zero"]) == 0
        assert "(--exit-zero)" in capsys.readouterr().err
        world.servers.solana.faults.reset()
        remove_r2_block(settings, 2)
        assert main([*run, "--json"]) == 1
        printed = json.loads(capsys.readouterr().out)
        assert {(f["check_id"], f["entity_id"], f["status"]) for f in printed} == {("BLOCK_TIER_MISSING", "2", "fail")}


def test_a_failing_finding_wins_over_unknowns():
    from reconcile_pipeline.outcome import outcome_of

    def findings(*statuses: str) -> pd.DataFrame:
        return pd.DataFrame({"check_id": [f"C{i}" for i in range(len(statuses))], "status": list(statuses)})

    assert outcome_of(findings()).exit_code == 0
    assert outcome_of(findings("unknown", "unknown")).exit_code == 3
    assert outcome_of(findings("unknown", "fail")).exit_code == 1
    assert outcome_of(findings("fail")).describe() == "1 failing finding(s) in 1 check(s)"


def test_ui_keeps_its_instance_in_the_working_folder(tmp_path, monkeypatch, capsys):
    """Without DAGSTER_HOME, `reconcile ui` run from any folder keeps .dagster_home there (not in the repository);
    an existing dagster.yaml is left as it is."""
    started = []

    class FakeDagster:
        pid = 999_999_999

        def __init__(self, command: list[str], **kwargs: object) -> None:
            started.append((command, kwargs["env"]))

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeDagster)
    monkeypatch.setattr(os, "killpg", lambda pid, sig: (_ for _ in ()).throw(ProcessLookupError()))
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["ui"]) == 0
    (command, env), home = started[0], tmp_path / ".dagster_home"
    assert env["DAGSTER_HOME"] == str(home) and command[1:4] == ["-m", "reconcile_pipeline.dagster_dev", "dev"]
    assert "telemetry off" in capsys.readouterr().err and "enabled: false" in (home / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text("# mine\n")
    assert main(["ui"]) == 0
    assert (home / "dagster.yaml").read_text() == "# mine\n" and "telemetry off" not in capsys.readouterr().err


def test_the_dagster_dev_launcher_drops_only_the_supersession_warning():
    """The warning as Dagster words it (`supersession_warning`) is dropped; other warnings still show."""
    code = (
        "import warnings\n"
        "import dagster._cli\n"
        "from dagster._utils.warnings import supersession_warning\n"
        "from reconcile_pipeline import dagster_dev\n"
        "def fake_dagster_main():\n"
        "    supersession_warning('Function `dev_command`', \"Use 'dg dev' instead.\")\n"
        "    warnings.warn('another warning', FutureWarning)\n"
        "dagster._cli.main = fake_dagster_main\n"
        "dagster_dev.main()\n"
    )
    process = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert "another warning" in process.stderr and "superseded" not in process.stderr
