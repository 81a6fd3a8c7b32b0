"""Experiment, not product code: where the IPFS client's CPU goes, and what two proposed changes buy.

``measure(requests, latency_s)`` serves three stub gateways in another process (so their CPU is not
counted), then sends ``requests`` HEADs through httpx with 16 in flight per host, the way
``IpfsGatewayClient`` does, in four variants, and reports CPU milliseconds per request:

- ``shared_pool``: one ``httpx.AsyncClient`` for all gateways (today's client: pool of 16 x 3 + 8);
- ``pool_per_gateway``: one client per gateway, each pool sized to the per-host limit;
- ``*+sniffio``: the same with ``sniffio`` importable (a stub answering "asyncio"), as if the
  ``sniffio`` distribution were installed: httpcore 1.0.9 imports it on every lock and semaphore
  it creates and, without it, pays a failed import (a sys.path scan) each time (encode/httpcore#1103).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import types

from .proc import ROOT

PER_HOST = 16
SERVER = """
import sys, time
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Response
class Stub(LoopbackServer):
    def route(self, request):
        return Response(200, b"x" * 300)
servers = [Stub().start() for _ in range(3)]
for s in servers:
    s.faults.latency_s = float(sys.argv[1]); s._httpd.socket.listen(1024)
print(" ".join(s.url for s in servers), flush=True)
sys.stdin.read()
"""


async def _run(urls: list[str], requests: int, per_gateway: bool) -> None:
    import httpx

    if per_gateway:
        clients = {url: httpx.AsyncClient(limits=httpx.Limits(max_connections=PER_HOST)) for url in urls}
    else:
        shared = httpx.AsyncClient(limits=httpx.Limits(max_connections=PER_HOST * len(urls) + 8))
        clients = dict.fromkeys(urls, shared)
    slots = {url: asyncio.Semaphore(PER_HOST) for url in urls}

    async def one(k: int) -> None:
        url = urls[k % len(urls)]
        async with slots[url]:
            async with clients[url].stream("HEAD", f"{url}/ipfs/x{k}") as response:
                await response.aread()

    await asyncio.gather(*(one(k) for k in range(requests)))
    for client in set(clients.values()):
        await client.aclose()


def _variant(urls: list[str], requests: int, per_gateway: bool) -> dict:
    asyncio.run(_run(urls, 60, per_gateway))  # warm imports
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(_run(urls, requests, per_gateway))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_ms_per_request": round(1000 * cpu / requests, 3), "wall_s": round(wall, 2)}


def variant(urls: list[str], requests: int, per_gateway: bool, sniffio: bool) -> dict:
    if sniffio and "sniffio" not in sys.modules:
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"
        sys.modules["sniffio"] = stub
    return _variant(urls, requests, per_gateway)


def measure(requests: int = 3000, latency_s: float = 0.1) -> dict:
    from .proc import run_child

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency_s)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        urls = server.stdout.readline().split()
        out = {}
        for name, per_gateway, sniffio in (
            ("shared_pool", False, False),
            ("pool_per_gateway", True, False),
            ("shared_pool+sniffio", False, True),
            ("pool_per_gateway+sniffio", True, True),
        ):
            out[name] = run_child(
                "httpexp", "variant", urls=urls, requests=requests, per_gateway=per_gateway, sniffio=sniffio
            )
        floor = requests / len(urls) * latency_s / PER_HOST
        return {
            "requests": requests,
            "latency_s": latency_s,
            "per_host": PER_HOST,
            "floor_wall_s": floor,
            "variants": out,
        }
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3000), indent=1))
