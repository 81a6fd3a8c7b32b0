"""Start, reach and stop the bench world's process from the runner (see :mod:`bench.world`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .proc import ROOT
from .world import WorldInfo


class WorldProcess:
    """``with WorldProcess(dir, nfts=..., blocks=...) as info:`` a served world; stopped on exit."""

    def __init__(
        self,
        directory: str | Path,
        *,
        nfts: int,
        blocks: int,
        faults: str = "none",
        gateway_latency: float = 0.1,
        rpc_latency: float = 0.05,
        api_latency: float = 0.05,
        overrides: dict | None = None,
        timeout_s: float = 900,
    ) -> None:
        self.directory = Path(directory)
        self.command = [
            sys.executable,
            "-m",
            "bench",
            "world",
            "--dir",
            str(self.directory),
            "--nfts",
            str(nfts),
            "--blocks",
            str(blocks),
            "--faults",
            faults,
            "--gateway-latency",
            str(gateway_latency),
            "--rpc-latency",
            str(rpc_latency),
            "--api-latency",
            str(api_latency),
        ]
        for key, value in (overrides or {}).items():
            self.command += ["--set", f"{key}={json.dumps(value)}"]
        self.timeout_s = timeout_s
        self.process: subprocess.Popen | None = None

    def start(self) -> WorldInfo:
        if self.directory.exists():  # a world starts cold: no database, archive or state of an earlier one
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        log = open(self.directory / "world.log", "w")  # noqa: SIM115 - the child owns it until it exits
        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout_s
        while not (self.directory / "world.json").exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"bench world exited: {(self.directory / 'world.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("bench world not ready in time")
            time.sleep(0.5)
        return WorldInfo.load(self.directory / "world.json")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def __enter__(self) -> WorldInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def control(info: WorldInfo, path: str, body: dict | None = None) -> object:
    """GET (no body) or POST (JSON body) to the world's control endpoint."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{info.control_url}{path}", data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def stats(info: WorldInfo) -> dict:
    return control(info, "/stats")


def reset(info: WorldInfo) -> None:
    control(info, "/reset", {})


def request_times(info: WorldInfo, server: str) -> list[float]:
    return control(info, f"/times?server={server}")
