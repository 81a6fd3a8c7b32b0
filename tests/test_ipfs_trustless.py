"""Trustless availability probes: every gateway is asked for the CID's raw root block, and what comes back is
verified, whether the gateway sends the block (Helia, Kubo) or ignores the raw request and sends the file
(js-ipfs); a gateway serving other bytes is found by a probe, whatever its headers say."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reconcile_pipeline.layers.cid import RAW, parse_cid
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import GatewayRead, IpfsGatewayClient
from reconcile_pipeline.layers.ipfs_raw import verify_raw
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.sandbox.httpserver import Response
from reconcile_pipeline.sandbox.ipfs import ContentStore, GatewayServer
from reconcile_pipeline.sandbox.ipfs_blocks import root_block
from tests.gatewaykit import gateway_servers

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=1.0)
SMALL = b'{"name":"Gold #1","level":"Gold"}'
BIG = bytes(range(256)) * 2500  # 640,000 bytes: three 256 KiB chunks under a small dag-pb root


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ContentStore, list[GatewayServer]]]:
    yield from gateway_servers(3)


@pytest.fixture
def gws(servers) -> list[GatewayServer]:
    for gateway in servers[1]:
        gateway.raw_mode, gateway.absent, gateway.custom, gateway.wrong_bytes = "block", "404", {}, set()
        gateway.reset_counters()
    return servers[1]


def probe(gateways: list[GatewayServer], cid: str) -> list[GatewayRead]:
    async def go() -> list[GatewayRead]:
        async with IpfsGatewayClient([g.url for g in gateways], retry=FAST, timeout_s=2.0) as client:
            return await client.probe(cid)

    return asyncio.run(go())


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["one chunk", "three chunks"])
@pytest.mark.parametrize("version", [0, 1])
def test_raw_answers_verify_whether_block_or_whole_file(servers, gws, data: bytes, version: int):
    store = servers[0]
    cid = str(unixfs_cid(data, cid_version=version))
    store.put(cid, data)
    gws[0].raw_mode = "block"  # Helia's verified-fetch, Kubo
    gws[1].raw_mode = "file"  # js-ipfs: ?format=raw and the Accept header ignored
    reads = probe(gws[:2], cid)
    whole = "block" if parse_cid(cid).codec == RAW else "file"  # a raw-leaf single chunk: the file is the block
    assert [(r.status, r.verified, r.form) for r in reads] == [("ok", True, "block"), ("ok", True, whole)]
    block = root_block(str(parse_cid(cid).to_v1()), data)
    assert [r.bytes_read for r in reads] == [len(block), len(data)]  # what each gateway sent (as received)
    assert verify_raw(parse_cid(cid), block) == "block"
    if len(data) > 262144:
        assert len(block) < 200  # a multi-chunk file's root is a small dag-pb node


@pytest.mark.parametrize("mode", ["block", "file"])
def test_a_gateway_serving_other_bytes_is_found_by_the_probe(servers, gws, mode: str):
    store = servers[0]
    cid, other = store.add(BIG), store.add(SMALL)
    for gateway in gws:
        gateway.raw_mode = mode
    # a hand-made fault through the gateway's own hook: another file's bytes, even labelled as a raw block
    gws[2].serve(cid, Response(200, BIG[:-1] + b"!", {"Content-Type": "application/vnd.ipld.raw"}))
    gws[1].serve(cid, Response(200, root_block(str(parse_cid(other).to_v1()), SMALL)))  # another CID's block
    reads = probe(gws, cid)
    assert [r.status for r in reads] == ["ok", "integrity", "integrity"]
    assert all(r.error_kind == "integrity" for r in reads[1:])


def test_a_corrupted_root_block_is_integrity(servers, gws):
    cid = servers[0].add(BIG)
    gws[1].wrong_bytes = {cid}
    assert [r.status for r in probe(gws, cid)] == ["ok", "integrity", "ok"]


def test_every_gateway_is_probed_and_the_raw_form_asked_for(servers, gws):
    cid = servers[0].add(BIG, cid_version=1)
    seen: list[tuple[str | None, str]] = []
    original = gws[0].route

    def spy(request):
        seen.append((request.arg("format"), request.headers.get("Accept", "")))
        return original(request)

    gws[0].route = spy
    try:
        reads = probe(gws, cid)
    finally:
        del gws[0].route
    assert [r.status for r in reads] == ["ok"] * 3 and all(r.verified for r in reads)
    assert seen == [("raw", "application/vnd.ipld.raw")]
    assert [g.requests[f"GET /ipfs/{cid}"] for g in gws] == [1, 1, 1]
    assert all(not any(key.startswith("HEAD") for key in g.requests) for g in gws)
