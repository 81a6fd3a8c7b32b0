"""Content a gateway cannot retrieve, as real gateways answer it (hang until the timeout, 504, 412, 404): a
gateway that serves a control CID is readable, so such an answer is "missing" on that gateway and never opens
its circuit breaker; a gateway that serves no control CID (or refuses connections) stays unknown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reconcile_pipeline.layers.breaker import BreakerPolicy, BreakerRegistry
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import IpfsGatewayClient, ObjectRead
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.sandbox.ipfs import ABSENT_MODES, ContentStore, GatewayServer
from tests.gatewaykit import gateway_servers

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.05)
TIMEOUT_S = 0.3  # the hang of a gateway searching for absent content ends at the client's timeout
FAILURES = 5


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ContentStore, list[GatewayServer]]]:
    yield from gateway_servers(2)


@pytest.fixture
def gw(servers) -> GatewayServer:
    for gateway in servers[1]:
        gateway.absent, gateway.hang_s, gateway.missing = "504", 5.0, set()
        gateway.faults.reset()
        gateway.reset_counters()
    return servers[1][0]


def absent_cids(count: int, tag: str) -> list[str]:
    return [str(unixfs_cid(f"{tag} never added {i}".encode())) for i in range(count)]


def client(gateway: GatewayServer, controls: list[str] = ()) -> IpfsGatewayClient:
    breakers = BreakerRegistry(BreakerPolicy(failures=FAILURES, cooldown_s=600.0))
    return IpfsGatewayClient([gateway.url], timeout_s=TIMEOUT_S, retry=FAST, breakers=breakers, control_cids=controls)


def read_in_turn(reader: IpfsGatewayClient, cids: list[str]) -> list[ObjectRead]:
    async def go() -> list[ObjectRead]:
        async with reader:
            return [await reader.fetch(cid) for cid in cids]

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ABSENT_MODES)
def test_absent_content_is_missing_and_the_breaker_stays_closed(servers, gw, mode: str):
    store = servers[0]
    control, present = store.add(b"canary pinned by the operator"), store.add(b"content the gateway serves")
    gw.absent = mode
    reader = client(gw, [control])
    reads = read_in_turn(reader, [*absent_cids(FAILURES + 2, mode), present])
    assert [r.status for r in reads] == ["missing"] * (FAILURES + 2) + ["ok"]
    kinds = {r.gateways[0].error_kind for r in reads[:-1]}
    assert kinds == ({"not_found"} if mode == "404" else {"absent"})
    assert set(reader.breakers.states().values()) == {"closed"}
    assert (reader.liveness.control_reads == 0) == (mode == "404")  # a 404 needs no control


@pytest.mark.parametrize("mode", ["hang", "504", "412"])
def test_a_gateway_serving_no_control_cid_is_unknown_and_its_breaker_opens(servers, gw, mode: str):
    control = servers[0].add(b"canary this gateway lost")
    gw.absent, gw.missing = mode, {control}
    reader = client(gw, [control])
    reads = read_in_turn(reader, absent_cids(FAILURES + 1, f"no control {mode}"))
    assert [r.status for r in reads] == ["unavailable"] * (FAILURES + 1)
    if mode == "412":  # an answer: the host is alive, only what it lacks is unknown
        assert set(reader.breakers.states().values()) == {"closed"}
    else:
        assert reads[-1].gateways[0].error_kind == "circuit_open"
        assert set(reader.breakers.states().values()) == {"open"}


def test_a_gateway_refusing_connections_is_unknown(servers, gw):
    control = servers[0].add(b"canary")
    gw.faults.mode = "down"
    reads = read_in_turn(client(gw, [control]), absent_cids(2, "down"))
    assert [(r.status, r.gateways[0].error_kind) for r in reads] == [("unavailable", "connect")] * 2


def test_without_control_cids_a_cid_verified_earlier_in_the_run_is_the_control(servers, gw):
    present = servers[0].add(b"served before the absent one")
    first, second = absent_cids(2, "after a verified read")
    assert read_in_turn(client(gw), [first])[0].status == "unavailable"  # nothing verified yet: unknown
    assert [r.status for r in read_in_turn(client(gw), [present, second])] == ["ok", "missing"]


def test_concurrent_absent_reads_share_one_control_read(servers, gw):
    control = servers[0].add(b"canary shared")
    gw.absent = "hang"
    reader = client(gw, [control])

    async def go() -> list[ObjectRead]:
        async with reader:
            return await reader.fetch_many([(cid, "") for cid in absent_cids(8, "concurrent")])

    assert [r.status for r in asyncio.run(go())] == ["missing"] * 8
    assert reader.liveness.control_reads <= 4 and set(reader.breakers.states().values()) == {"closed"}  # not 16


def test_the_other_gateway_still_serves_what_this_one_lacks(servers, gw):
    store = servers[0]
    control, cid = store.add(b"canary two"), store.add(b"propagated to one gateway only")
    gw.missing = {cid}
    other = servers[1][1]
    reader = IpfsGatewayClient([gw.url, other.url], timeout_s=TIMEOUT_S, retry=FAST, control_cids=[control])

    async def go():
        async with reader:
            return await reader.probe(cid)

    assert [(r.status, r.error_kind) for r in asyncio.run(go())] == [("missing", "absent"), ("ok", None)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_liveness_decides_from_reads_after_the_failing_read_began():
    from reconcile_pipeline.layers.cid import parse_cid
    from reconcile_pipeline.layers.ipfs_absent import Liveness

    clock, asked = Clock(), []
    control, gone, seen = (parse_cid(c) for c in absent_cids(3, "liveness"))
    answers = {"up": True, "lost": False, "down": None}

    async def control_read(gateway: str, cid) -> bool | None:
        asked.append((gateway, cid))
        clock.now += 1
        return answers[gateway]

    async def go() -> list[bool]:
        live = Liveness([control], control_read, clock)
        since = clock()
        live.served("seen", seen)  # a verified read at the same moment: no control read needed
        results = [await live.readable("seen", since, gone)]
        results += [await live.readable("up", since, gone), await live.readable("up", since, gone)]
        results += [await live.readable("lost", since, gone), await live.readable("down", since, gone)]
        results += [await live.readable("down", since, gone)]  # refuted since the read began: not asked again
        return results

    assert asyncio.run(go()) == [True, True, True, False, False, False]
    # "up" once (then proved), "lost" lacks the control and the CID verified this run, "down" once
    assert [g for g, _ in asked] == ["up", "lost", "lost", "down"]
    assert [c for g, c in asked if g == "lost"] == [control, seen]


@pytest.mark.parametrize("knobs", [{"absent": "503"}, {"raw_mode": "car"}])
def test_a_gateway_with_an_unknown_behaviour_is_refused(knobs: dict):
    with pytest.raises(ValueError, match="absent one of"):
        GatewayServer(ContentStore(), **knobs)


def test_a_stall_that_passes_is_no_absence(servers, gw):
    """Two timeouts for a CID the gateway holds (a stall of the whole first read), then it answers: asked once
    more after the control proved the gateway readable, the CID is served — never called missing."""
    import time

    from reconcile_pipeline.sandbox.httpserver import Response

    store = servers[0]
    control, cid = store.add(b"canary for a stall"), store.add(b"content behind a stall")
    calls = []

    def stalled() -> Response:
        calls.append(1)
        if len(calls) <= FAST.attempts:
            time.sleep(3 * TIMEOUT_S)  # past the client's timeout: both attempts of the first read time out
        return Response(200, store.get(cid))

    gw.serve(cid, stalled)
    try:
        reader = client(gw, [control])
        read = read_in_turn(reader, [cid])[0]
    finally:
        gw.serve(cid, None)
    assert (read.status, read.verified, len(calls)) == ("ok", True, FAST.attempts + 1)
    assert reader.liveness.control_reads == 1
