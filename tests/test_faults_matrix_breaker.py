"""The circuit breaker per host (layers/breaker.py): its state machine, and each client behind it.

A dead host costs a few failures, then every call to it fails fast as ``CircuitOpen`` (a
LayerUnavailable whose reason is "circuit open") until a cool-down ends; then one probe is let
through, and its outcome closes or re-opens the circuit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from reconcile_pipeline.layers.breaker import BreakerPolicy, BreakerRegistry, CircuitBreaker, CircuitOpen
from reconcile_pipeline.layers.errors import (
    DecodeError,
    LayerAuthError,
    LayerServerError,
    LayerTimeout,
    LayerUnavailable,
    ResponseTooLarge,
)
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

POLICY = BreakerPolicy(failures=3, cooldown_s=10.0)
DOWN = LayerServerError("server error (HTTP 503)", status_code=503, layer="t")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("http://h:80", POLICY, clock)


def fail(breaker: CircuitBreaker, times: int, error: Exception = DOWN) -> None:
    for _ in range(times):
        breaker.acquire()
        breaker.record(error)


# -- the state machine ----------------------------------------------------------------------------
def test_opens_after_n_consecutive_failures_and_fails_fast(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker, 1)
    assert breaker.state == "open"
    clock.now += 4
    with pytest.raises(CircuitOpen) as caught:
        breaker.acquire(layer="ipfs", where="http://h/ipfs/x")
    error = caught.value
    assert isinstance(error, LayerUnavailable) and error.reason == "circuit open" and error.kind == "circuit_open"
    assert str(error) == "[ipfs] circuit open (at http://h/ipfs/x)" and error.retry_in_s == pytest.approx(6.0)
    assert breaker.rejected == 1


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    for _ in range(5):
        fail(breaker, 2)
        breaker.acquire()
        breaker.record(None)
    assert breaker.state == "closed" and breaker.failures == 0


@pytest.mark.parametrize(
    "answer",
    [
        LayerAuthError("credentials refused (HTTP 401)"),
        DecodeError("answer is not JSON"),
        ResponseTooLarge("over the cap", limit=1),
    ],
)
def test_any_answer_proves_the_host_alive(breaker: CircuitBreaker, answer: Exception) -> None:
    fail(breaker, 2)
    breaker.acquire()
    breaker.record(answer)
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_half_open_lets_one_probe_through(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += POLICY.cooldown_s
    breaker.acquire()  # the probe
    assert breaker.state == "half_open"
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # everyone else waits for the probe's outcome
    breaker.record(None)
    assert breaker.state == "closed"
    breaker.acquire()
    breaker.record(None)


def test_a_failed_probe_reopens_for_a_whole_cool_down(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += POLICY.cooldown_s + 1
    fail(breaker, 1, LayerTimeout("timed out"))
    assert breaker.state == "open"
    clock.now += POLICY.cooldown_s - 0.5
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 0.5
    breaker.acquire()
    assert breaker.state == "half_open"


def test_a_cancelled_probe_releases_its_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += POLICY.cooldown_s
    breaker.acquire()
    breaker.record(asyncio.CancelledError())
    breaker.acquire()  # the next caller probes instead
    assert breaker.state == "half_open"


def test_one_breaker_per_origin(clock: Clock) -> None:
    registry = BreakerRegistry(POLICY, clock)
    assert registry.for_url("http://a/x") is registry.for_url("HTTP://A:80/y")
    assert registry.for_url("http://a:81/x") is not registry.for_url("http://a/x")
    assert registry.for_url("https://a/x") is not registry.for_url("http://a/x")
    fail(registry.for_url("http://a:81/"), 3)
    assert registry.states() == {"http://a:80": "closed", "http://a:81": "open", "https://a:443": "closed"}


# -- every client behind its breaker, against its real local server -------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[LocalWorld, FaultProxy]]:
    with LocalWorld(WorldSpec(seed=22, nfts=2, blocks=2, faults=[]), tmp_path_factory.mktemp("w")) as world:
        with FaultProxy(world.servers.s3.url) as proxy:
            yield world, proxy


ONCE = RetryPolicy(attempts=1)


def _ipfs(world: LocalWorld, proxy: FaultProxy, registry: BreakerRegistry):
    gateway = world.servers.gateways[0]
    client = IpfsGatewayClient([gateway.url], timeout_s=1, retry=ONCE, breakers=registry)
    cid = world.data.nfts[0].json_cid

    async def read() -> None:
        result = await client.fetch(cid)
        if result.status != "ok":
            raise LayerUnavailable(result.error or "")

    return gateway, read, client.aclose


def _pinata(world: LocalWorld, proxy: FaultProxy, registry: BreakerRegistry):
    server = world.servers.pinata
    client = PinataClient(server.url, world.servers.pinata_jwt, retry=ONCE, breakers=registry)
    return server, client.pin_list, client.aclose


def _kv(world: LocalWorld, proxy: FaultProxy, registry: BreakerRegistry):
    bs = world.servers.blockstore_settings()
    args = (bs["kv_api_url"], bs["kv_account_id"], bs["kv_namespace_id"], bs["kv_api_token"])
    client = KVClient(*args, retry=ONCE, breakers=registry)
    return world.servers.kv, lambda: client.get("vdc:latest"), client.aclose


def _solana(world: LocalWorld, proxy: FaultProxy, registry: BreakerRegistry):
    client = SolanaClient(world.servers.solana.url, retry=ONCE, breakers=registry)
    mint = world.data.nfts[0].mint

    async def read() -> None:
        result = (await client.metadata_for_mints([mint]))[mint]
        if result.status != "ok":
            raise LayerUnavailable(result.error or "")

    return world.servers.solana, read, client.aclose


def _r2(world: LocalWorld, proxy: FaultProxy, registry: BreakerRegistry):
    client = R2Client(proxy.url, world.servers.r2_bucket, ACCESS_KEY_ID, SECRET_ACCESS_KEY, region="us-east-1",
                      max_attempts=1, breakers=registry)  # fmt: skip
    return proxy, lambda: client.get("blocks/0.json"), client.aclose


@pytest.mark.parametrize("make", [_ipfs, _pinata, _kv, _solana, _r2], ids=["ipfs", "pinata", "kv", "solana", "r2"])
def test_each_client_stops_calling_a_dead_host_then_probes_it(world, make) -> None:
    the_world, proxy = world
    clock = Clock()
    registry = BreakerRegistry(POLICY, clock)
    server, read, close = make(the_world, proxy, registry)
    server.faults.arm("error")
    server.reset_counters()

    async def attempt() -> str:
        try:
            await read()
        except LayerUnavailable as exc:
            return exc.reason
        return "ok"

    async def go() -> tuple[list[str], int, str, str]:
        try:
            reasons = [await attempt() for _ in range(20)]
            calls_while_dead = sum(server.requests.values())
            server.faults.reset()
            still_open = await attempt()  # the host is back, but the cool-down is not over
            clock.now += POLICY.cooldown_s
            return reasons, calls_while_dead, still_open, await attempt()  # the probe closes the circuit
        finally:
            await close()

    try:
        reasons, calls_while_dead, still_open, probe = asyncio.run(go())
    finally:
        server.faults.reset()
    assert calls_while_dead == POLICY.failures  # not 20
    assert all("circuit open" in reason for reason in reasons[POLICY.failures :]), reasons
    assert "circuit open" not in " ".join(reasons[: POLICY.failures])
    assert "circuit open" in still_open and probe == "ok"
    assert set(registry.states().values()) == {"closed"}


def test_a_dead_gateway_costs_one_timeout_not_one_per_object(world) -> None:
    """32 objects from a gateway that never answers: ~one timeout of wall time, a handful of requests."""
    the_world, _ = world
    gateway = the_world.servers.gateways[1]
    refs = [(the_world.data.nfts[0].json_cid, f"/file{i}") for i in range(32)]

    async def read_all(registry: BreakerRegistry) -> tuple[list[str], float]:
        client = IpfsGatewayClient([gateway.url], timeout_s=0.1, retry=RetryPolicy(attempts=2, base_delay_s=0.01),
                                   max_concurrency_per_host=4, breakers=registry)  # fmt: skip
        started = time.monotonic()
        async with client:
            reads = await client.fetch_many(refs)
        return [read.gateways[0].error_kind for read in reads], time.monotonic() - started

    gateway.faults.arm("ok", latency_s=0.4)
    try:
        gateway.reset_counters()
        kinds, elapsed = asyncio.run(read_all(BreakerRegistry(BreakerPolicy(failures=5))))
        with_breaker = sum(gateway.requests.values())
        gateway.reset_counters()
        _, elapsed_without = asyncio.run(read_all(BreakerRegistry(BreakerPolicy(failures=10**9))))
        without_breaker = sum(gateway.requests.values())
    finally:
        gateway.faults.reset()
    # a call (2 attempts) counts once: at most 5 + 3 calls start before it opens; without it, 32 x 2 attempts
    assert with_breaker <= 2 * (5 + 3) and without_breaker >= 48  # (a loaded machine may time out a connect)
    assert kinds.count("circuit_open") >= 32 - 8 and set(kinds) <= {"timeout", "circuit_open"}
    assert elapsed < elapsed_without / 2


def test_a_call_counts_once_whatever_its_retries(world) -> None:
    """Three failed calls of three attempts each open the circuit: nine requests, then none."""
    the_world, _ = world
    kv = the_world.servers.kv
    bs = the_world.servers.blockstore_settings()
    registry = BreakerRegistry(POLICY)
    retry = RetryPolicy(attempts=3, base_delay_s=0.0, max_delay_s=0.0)

    async def go() -> list[str]:
        async with KVClient(bs["kv_api_url"], bs["kv_account_id"], bs["kv_namespace_id"], bs["kv_api_token"],
                            retry=retry, breakers=registry) as client:  # fmt: skip
            reasons = []
            for _ in range(5):
                try:
                    await client.get("vdc:latest")
                except LayerUnavailable as exc:
                    reasons.append(exc.reason)
            return reasons

    kv.faults.arm("error")
    kv.reset_counters()
    try:
        reasons = asyncio.run(go())
    finally:
        kv.faults.reset()
    assert sum(kv.requests.values()) == 9
    assert reasons == ["server error (HTTP 503)"] * 3 + ["circuit open"] * 2
