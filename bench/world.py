"""The bench world: a :class:`LocalWorld` at a given size, with injected latency, counted, in its own process.

``python -m bench world --nfts 10000 --blocks 10000 --dir DIR`` builds the world once, serves it until
SIGINT/SIGTERM and writes ``DIR/world.json`` (the config path, the control URL, the sizes) when ready;
every measurement then runs in another process against it, and reads the servers' counters through
the control endpoint (:mod:`bench.control`). Differences from ``reconcile world up`` (all in bench
code, by wrapping): R2 goes through a counting proxy (:mod:`bench.s3proxy`), every server logs its
requests (:mod:`bench.counters`), listen backlogs are raised from socketserver's 5 to 1024 (a real
gateway does not drop SYNs at 6 concurrent connects; a dropped SYN costs a 1 s retransmit), and the
settings use production timeouts (:data:`BENCH_DEFAULTS`) and may be overridden
(``--set solana.requests_per_window=20``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reconcile_pipeline.sandbox.toml import toml_dumps
from reconcile_pipeline.sandbox.world import LocalWorld
from reconcile_pipeline.sandbox.worlddata import WorldSpec

from .control import ControlServer
from .counters import RequestLog, attach_log
from .s3proxy import S3Proxy

GATEWAY_LATENCY_S = 0.100
RPC_LATENCY_S = 0.050
LISTEN_BACKLOG = 1024
# The test world's settings use 5 s timeouts (fast failing tests); a benchmark of 10,000 records measures the
# production defaults instead, so that a deadline sized for a test never decides what a large run can read.
BENCH_DEFAULTS = {"http.timeout_s": 30.0, "ipfs.timeout_s": 30.0}


@dataclass
class Latency:
    """Seconds added to every request, per kind of server."""

    gateway: float = GATEWAY_LATENCY_S  # IPFS gateways and the Pinata API
    rpc: float = RPC_LATENCY_S  # Solana JSON-RPC
    api: float = RPC_LATENCY_S  # Cloudflare KV and R2

    def for_server(self, name: str) -> float:
        if name.startswith("gw") or name == "pinata":
            return self.gateway
        return self.rpc if name == "solana" else self.api


@dataclass
class WorldInfo:
    """What ``world.json`` holds: enough for a measurement process to find and judge the world."""

    directory: str
    config: str
    control_url: str
    nfts: int
    blocks: int
    faults: list[str]
    latency: dict
    accounts: int
    signatures: int
    settings_overrides: dict = field(default_factory=dict)
    pid: int = 0
    build_s: float = 0.0

    @classmethod
    def load(cls, path: str | Path) -> WorldInfo:
        return cls(**json.loads(Path(path).read_text()))


def apply_overrides(document: dict, overrides: dict[str, object]) -> dict:
    """``{"solana.requests_per_window": 20}`` into the settings document (one table level deep)."""
    for dotted, value in overrides.items():
        table, _, key = dotted.partition(".")
        if key:
            document.setdefault(table, {})[key] = value
        else:
            document[table] = value
    return document


class BenchWorld:
    def __init__(self, spec: WorldSpec, directory: str | Path, latency: Latency, overrides: dict | None = None):
        self.spec, self.latency, self.overrides = spec, latency, overrides or {}
        self.directory = Path(directory).resolve()
        self.world = LocalWorld(spec, self.directory)
        self.proxy: S3Proxy | None = None
        self.control: ControlServer | None = None

    def start(self) -> WorldInfo:
        started = time.perf_counter()
        self.world.start()
        servers = dict(self.world.servers.all())
        s3 = servers.pop("s3")
        self.proxy = S3Proxy(s3.url).start()
        servers["r2"] = self.proxy
        logs = {name: RequestLog() for name in servers}
        for name, server in servers.items():
            attach_log(server, logs[name])
            server._httpd.socket.listen(LISTEN_BACKLOG)
            server.faults.latency_s = self.latency.for_server(name)
        self.control = ControlServer(servers, logs).start()
        return self._write_info(time.perf_counter() - started)

    def _write_info(self, build_s: float) -> WorldInfo:
        document = self.world.settings_document()
        document["blockstore"]["r2_endpoint_url"] = self.proxy.url
        document = apply_overrides(document, BENCH_DEFAULTS | self.overrides)
        config = self.directory / "bench.toml"
        config.write_text(toml_dumps(document))
        data = self.world.data
        info = WorldInfo(
            directory=str(self.directory),
            config=str(config),
            control_url=self.control.url,
            nfts=self.spec.nfts,
            blocks=self.spec.blocks,
            faults=list(self.spec.faults),
            latency=asdict(self.latency),
            accounts=sum(1 for nft in data.nfts if nft.on_chain),
            signatures=len({nft.signature for nft in data.nfts}),
            settings_overrides=self.overrides,
            pid=os.getpid(),
            build_s=round(build_s, 1),
        )
        tmp = self.directory / "world.json.tmp"
        tmp.write_text(json.dumps(asdict(info), indent=2))
        tmp.replace(self.directory / "world.json")
        return info

    def stop(self) -> None:
        for server in (self.control, self.proxy):
            if server is not None:
                server.stop()
        self.world.stop()


def serve(spec: WorldSpec, directory: str | Path, latency: Latency, overrides: dict | None = None) -> int:
    """Build, serve until SIGINT/SIGTERM, stop. ``world.json`` appears when the world is ready."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / "world.json").unlink(missing_ok=True)
    bench_world = BenchWorld(spec, directory, latency, overrides)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    info = bench_world.start()
    print(f"bench world ready in {info.build_s} s: {info.nfts} NFTs, {info.blocks} blocks; {directory}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        bench_world.stop()
    return 0
