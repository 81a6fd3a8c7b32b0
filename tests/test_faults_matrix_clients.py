"""The fault matrix, client by client: every layer client against its real local server under each outage.

For each remote layer (IPFS gateway, Pinata, Cloudflare KV, Solana RPC, R2 through a fault proxy in
front of moto's S3) and each fault (connection refused, dropped, reset, a timeout, 503, 429 with
Retry-After, a truncated body, a body dripped for ever) the client's answer is "could not read":
a LayerUnavailable of the right kind (or a per-record "unavailable"), never "missing" and never a
data error; and once the server recovers the same call reads the layer again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from reconcile_pipeline.layers.errors import LayerUnavailable
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import IpfsGatewayClient
from reconcile_pipeline.layers.kv import KVClient
from reconcile_pipeline.layers.pinata import PinataClient
from reconcile_pipeline.layers.r2 import R2Client
from reconcile_pipeline.layers.solana import SolanaClient
from reconcile_pipeline.sandbox.faultproxy import FaultProxy
from reconcile_pipeline.sandbox.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from reconcile_pipeline.sandbox.world import LocalWorld
from reconcile_pipeline.sandbox.worlddata import WorldSpec

TIMEOUT_S = 0.15  # of a read under a fault (one attempt: retries are pinned in test_http.py)
HEALTHY_TIMEOUT_S = 2.0  # of the read after recovery
ONCE = RetryPolicy(attempts=1)
FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.05)

# fault -> the LayerError kind every client must report
FAULTS = {
    "refused": "connect",
    "down": "connect",
    "reset": "connect",
    "timeout": "timeout",
    "error": "server_error",
    "ratelimit": "rate_limited",
    "truncate": "connect",
    "drip_forever": "timeout",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[LocalWorld, FaultProxy]]:
    with LocalWorld(WorldSpec(seed=21, nfts=2, blocks=2, faults=[]), tmp_path_factory.mktemp("w")) as world:
        with FaultProxy(world.servers.s3.url) as proxy:
            yield world, proxy


def _arm(server, fault: str) -> None:
    """Break ``server`` after its next request (each read warms its client up with one first)."""
    server.faults.reset()
    server.faults.retry_after_s = 0.01
    server.faults.drip_delay_s = 0.02
    if fault == "refused":
        server.refuse()
    elif fault == "timeout":
        server.faults.arm("ok", after=1, latency_s=4 * TIMEOUT_S)
    else:
        server.faults.arm(fault, after=1)


def _recover(server, fault: str) -> None:
    server.faults.reset()
    if fault == "refused":
        server.accept()


# -- one read per client, after one warm-up request; returns what was read or raises LayerUnavailable --
def read_ipfs(world: LocalWorld, proxy: FaultProxy, timeout_s: float, retry: RetryPolicy) -> object:
    nft = world.data.nfts[0]

    async def go():
        async with IpfsGatewayClient([world.servers.gateways[0].url], timeout_s=timeout_s, retry=retry) as client:
            await client.probe(nft.image_cid)
            read = await client.fetch(nft.json_cid)
        if read.status == "unavailable":  # the per-record way of saying it
            raise LayerUnavailable(read.error or "", layer="ipfs")
        return read.status, read.gateways[0].error_kind

    return asyncio.run(go())


def read_pinata(world: LocalWorld, proxy: FaultProxy | None, timeout_s: float, retry: RetryPolicy) -> object:
    async def go():
        pinata = world.servers.pinata
        async with PinataClient(pinata.url, world.servers.pinata_jwt, retry=retry, timeout_s=timeout_s) as client:
            await client.test_authentication()
            return len(await client.pin_list())

    return asyncio.run(go())


def read_kv(world: LocalWorld, proxy: FaultProxy, timeout_s: float, retry: RetryPolicy) -> object:
    bs = world.servers.blockstore_settings()
    args = (bs["kv_api_url"], bs["kv_account_id"], bs["kv_namespace_id"], bs["kv_api_token"])

    async def go():
        async with KVClient(*args, retry=retry, timeout_s=timeout_s) as kv:
            await kv.get("vdc:pending:count")
            return len(await kv.get_many(["vdc:latest", "vdc:block:0"]))

    return asyncio.run(go())


def read_solana(world: LocalWorld, proxy: FaultProxy, timeout_s: float, retry: RetryPolicy) -> object:
    nft = world.data.nfts[0]

    async def go():
        async with SolanaClient(world.servers.solana.url, timeout_s=timeout_s, retry=retry) as solana:
            await solana.signature_statuses([nft.signature])
            read = (await solana.metadata_for_mints([nft.mint]))[nft.mint]
        if read.status == "unavailable":
            raise LayerUnavailable(read.error or "", layer="solana")
        return read.status

    return asyncio.run(go())


def read_r2(world: LocalWorld, proxy: FaultProxy, timeout_s: float, retry: RetryPolicy) -> object:
    bucket = world.servers.r2_bucket
    client = R2Client(proxy.url, bucket, ACCESS_KEY_ID, SECRET_ACCESS_KEY, region="us-east-1", timeout_s=timeout_s,
                      max_attempts=retry.attempts)  # fmt: skip
    try:
        asyncio.run(client.get("blocks/1.json"))
        return asyncio.run(client.get("blocks/0.json")) is not None
    finally:
        client.close()


CLIENTS: dict[str, tuple[Callable, Callable, object]] = {
    # name: (read, the server to break, what a healthy read returns)
    "ipfs": (read_ipfs, lambda w, p: w.servers.gateways[0], ("ok", None)),
    "pinata": (read_pinata, lambda w, p: w.servers.pinata, None),
    "kv": (read_kv, lambda w, p: w.servers.kv, 2),
    "solana": (read_solana, lambda w, p: w.servers.solana, "ok"),
    "r2": (read_r2, lambda w, p: p, True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("layer", list(CLIENTS))
def test_each_outage_is_unavailable_then_recovers(world, layer: str, fault: str) -> None:
    the_world, proxy = world
    read, server_of, healthy = CLIENTS[layer]
    server = server_of(the_world, proxy)
    expected = healthy if healthy is not None else len(the_world.servers.store.pins())
    _arm(server, fault)
    started = time.monotonic()
    try:
        # the short timeout only where the fault is one: a 503 on a busy machine may take longer than 0.15 s
        with pytest.raises(LayerUnavailable) as caught:
            read(the_world, proxy, TIMEOUT_S if FAULTS[fault] == "timeout" else HEALTHY_TIMEOUT_S, ONCE)
    finally:
        _recover(server, fault)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert f"[{layer}]" in message or layer in ("ipfs", "solana")
    assert FAULTS[fault] in message or _kind_named(message, FAULTS[fault]), message
    assert elapsed < 10 * TIMEOUT_S + 3.0, f"{layer}/{fault} took {elapsed:.2f}s"  # bounded: never hangs
    assert read(the_world, proxy, HEALTHY_TIMEOUT_S, FAST) == expected  # recovered: the same call reads again


def _kind_named(message: str, kind: str) -> bool:
    """How each client words the kinds of failure (mapped at its boundary)."""
    words = {
        "connect": ("transport failed", "Connect", "Connection", "RemoteProtocolError", "ReadError", "Incomplete"),
        "timeout": ("timed out", "Timeout", "no complete", "deadline"),
        "server_error": ("HTTP 503", "503", "ServiceUnavailable", "server error"),
        "rate_limited": ("HTTP 429", "429", "rate limited", "SlowDown"),
    }[kind]
    return any(word in message for word in words)


def test_retry_after_is_waited_for_then_the_read_succeeds(world) -> None:
    """One 429 with Retry-After: 0.3: the client waits as told, and its retry reads the layer."""
    the_world, _ = world
    pinata = the_world.servers.pinata
    pinata.faults.arm("ratelimit", times=1, retry_after_s=0.3)
    retry = RetryPolicy(attempts=2, base_delay_s=0.0, max_delay_s=5)
    started = time.monotonic()
    try:
        assert read_pinata(the_world, None, HEALTHY_TIMEOUT_S, retry) == len(the_world.servers.store.pins())
    finally:
        pinata.faults.reset()
    assert time.monotonic() - started >= 0.3


def test_an_outage_mid_read_fails_only_what_it_hit(world) -> None:
    """``faults.arm(mode, after=N)``: the first N requests are served, then the outage starts."""
    the_world, _ = world
    gateway = the_world.servers.gateways[0]
    cids = [nft.json_cid for nft in the_world.data.nfts] + [nft.image_cid for nft in the_world.data.nfts[:1]]
    gateway.faults.arm("error", after=2)

    async def go():
        client = IpfsGatewayClient([gateway.url], timeout_s=TIMEOUT_S, retry=RetryPolicy(attempts=1))
        client.max_concurrency_per_host = 1
        async with client:
            return [(await client.fetch(cid)).status for cid in cids]

    try:
        statuses = asyncio.run(go())
    finally:
        gateway.faults.reset()
    assert statuses == ["ok", "ok", "unavailable"]
