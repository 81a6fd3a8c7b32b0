"""The local world and the Dagster UI bind to 127.0.0.1 by default (DESIGN §11).

Every server of a default ``LocalWorld`` (IPFS gateways, Pinata, Solana RPC, Cloudflare KV, moto's S3)
listens on 127.0.0.1 only — checked in the kernel's socket table, not just in the URLs — and the
settings it writes name loopback endpoints only. ``reconcile ui`` starts ``dagster dev -h 127.0.0.1``
unless ``--host`` says otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reconcile_pipeline.cli import build_parser, main
from reconcile_pipeline.sandbox.world import LocalWorld
from reconcile_pipeline.sandbox.worlddata import WorldSpec

LISTEN = "0A"


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # /proc prints each 32-bit word host-endian
    return str(ipaddress.IPv6Address(words))


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(_address(address))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp to read the socket table from")
    with LocalWorld(WorldSpec(seed=1, nfts=1, blocks=1, faults=[]), tmp_path_factory.mktemp("w")) as world:
        yield world


def test_every_world_server_listens_on_loopback_only(world: LocalWorld) -> None:
    endpoints = world.servers.endpoints()
    assert set(endpoints) == {"gw0", "gw1", "gw2", "pinata", "solana", "kv", "s3"}
    for name, url in endpoints.items():
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", (name, url)
        assert listening_addresses(parts.port) == {"127.0.0.1"}, (name, url)


def test_the_world_settings_name_loopback_endpoints_only(world: LocalWorld) -> None:
    document = world.settings_document()
    urls = [
        document["solana"]["rpc_url"],
        *document["ipfs"]["gateways"],
        document["pinata"]["api_url"],
        document["blockstore"]["kv_api_url"],
        document["blockstore"]["r2_endpoint_url"],
    ]
    assert {urlsplit(url).hostname for url in urls} == {"127.0.0.1"}
    assert document["ipfs"]["allow_private_addresses"] is True  # said explicitly, for these gateways only
    assert "url_allowlist" not in document["ipfs"]


def test_reconcile_ui_binds_to_loopback_unless_told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert build_parser().parse_args(["ui"]).host == "127.0.0.1"
    started: list[list[str]] = []

    class FakeDagster:
        pid = 999_999_999

        def __init__(self, command: list[str], **kwargs: object) -> None:
            started.append(command)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeDagster)
    monkeypatch.setattr(os, "killpg", lambda pid, sig: (_ for _ in ()).throw(ProcessLookupError()))
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["ui"]) == 0
    assert main(["ui", "--host", "0.0.0.0", "--port", "3111"]) == 0
    first, second = started
    assert first[first.index("-h") + 1] == "127.0.0.1" and first[first.index("-p") + 1] == "3000"
    assert second[second.index("-h") + 1] == "0.0.0.0" and second[second.index("-p") + 1] == "3111"
