"""IpfsGatewayClient against the local world's gateways: every read outcome and fault."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from reconcile_pipeline.layers.cid import DAG_PB, parse_cid
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import GatewayRead, IpfsGatewayClient, ObjectRead, summarise
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.sandbox.httpserver import Faults, Request, Response
from reconcile_pipeline.sandbox.ipfs import ContentStore, GatewayServer

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=1.0)
DATA = b'{"name":"Gold #1","level":"Gold"}'
BIG = bytes(range(256)) * 2500  # 640,000 bytes: three 256 KiB chunks, a real DAG


class LimitedOnce(GatewayServer):
    """Answers 429 with Retry-After to the first `limited` requests, then serves normally."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.limited = 0

    def route(self, request: Request) -> Response:
        if self.limited:
            self.limited -= 1
            return Response(429, b"slow down", {"Retry-After": "0.2"})
        return super().route(request)


class DirectoryGateway(GatewayServer):
    """Serves fixed bytes for any sub-path (the local gateway has no directories)."""

    def route(self, request: Request) -> Response:
        if request.path.count("/") > 2:
            return Response(200, b"leaf bytes", {"Content-Type": "application/octet-stream"})
        return super().route(request)


class CountingGateway(GatewayServer):
    """Records the most requests it had in flight at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = self.peak = 0
        self.gauge = threading.Lock()

    def route(self, request: Request) -> Response:
        with self.gauge:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.03)
        with self.gauge:
            self.in_flight -= 1
        return super().route(request)


SPECIAL = {"limited": LimitedOnce, "directory": DirectoryGateway, "counting": CountingGateway}


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[ContentStore, list[GatewayServer], dict[str, GatewayServer]]]:
    """One store, five plain gateways and the special ones, for the whole module (stopping costs ~0.5 s each)."""
    store = ContentStore()
    plain = [GatewayServer(store, name=f"gw{i}").start() for i in range(5)]
    special = {name: cls(store, name=name).start() for name, cls in SPECIAL.items()}
    yield store, plain, special
    stoppers = [threading.Thread(target=s.stop) for s in [*plain, *special.values()]]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()


def _reset(server: GatewayServer) -> None:
    server.faults = Faults()
    server.serve_wrong_bytes, server.wrong_bytes, server.missing, server.redirect_to = False, set(), set(), None
    server.absent, server.raw_mode = "404", "block"  # these tests pin the 404 path (other answers: test_ipfs_absent)
    server.reset_counters()


@pytest.fixture
def store(world) -> ContentStore:
    return world[0]


@pytest.fixture
def start(world) -> Callable[..., list[GatewayServer]]:
    """start(n) -> n fresh-state plain gateways; start(1, "counting") -> that special gateway."""
    _, plain, special = world
    for server in [*plain, *special.values()]:
        _reset(server)

    def _start(count: int = 1, kind: str = "") -> list[GatewayServer]:
        return [special[kind]] if kind else plain[:count]

    return _start


def client_for(servers: list[GatewayServer], **kwargs: object) -> IpfsGatewayClient:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout_s", 2.0)
    return IpfsGatewayClient([s.url for s in servers], **kwargs)


def fetch(servers: list[GatewayServer], cid: str, path: str = "", **kwargs: object) -> ObjectRead:
    async def go() -> ObjectRead:
        async with client_for(servers, **kwargs) as client:
            return await client.fetch(cid, path)

    return asyncio.run(go())


def statuses(reads: list[GatewayRead]) -> list[tuple[str, str | None]]:
    return [(read.status, read.error_kind) for read in reads]


# -- happy paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "version"), [(DATA, 0), (DATA, 1), (BIG, 0), (BIG, 1), (b"", 0)])
def test_fetch_returns_verified_bytes(store, start, data: bytes, version: int):
    (gw,) = start(1)
    cid = store.add(data, cid_version=version)
    read = fetch([gw], cid)
    assert (read.status, read.content, read.verified, read.served_by) == ("ok", data, True, gw.url)
    assert read.cid == cid and read.error is None and read.bytes_read == len(data)
    assert statuses(read.gateways) == [("ok", None)]


def test_v0_and_v1_spellings_read_the_same_object(store, start):
    (gw,) = start(1)
    cid0 = store.add(BIG)
    cid1 = str(parse_cid(cid0).to_v1())
    assert fetch([gw], cid1).content == BIG
    assert fetch([gw], parse_cid(cid0).to_text("z")).status == "ok"


@pytest.mark.parametrize("data", [DATA, BIG], ids=["one-block", "three-chunks"])
def test_v1_spelling_of_v0_added_content_verifies(store, start, data: bytes):
    """A Qm root spelled "bafybei..." (as subdomain gateways do) keeps its v0 DAG; it verifies as it is."""
    (gw,) = start(1)
    cid1 = parse_cid(store.add(data, cid_version=0)).to_v1()
    assert (cid1.version, cid1.codec, str(cid1)[:6]) == (1, DAG_PB, "bafybe")
    read = fetch([gw], str(cid1))
    assert (read.status, read.content, read.verified, read.cid) == ("ok", data, True, str(cid1))
    assert statuses(read.gateways) == [("ok", None)]
    gw.wrong_bytes = {str(cid1)}
    wrong = fetch([gw], str(cid1))
    assert (wrong.status, wrong.verified, statuses(wrong.gateways)) == ("invalid", False, [("integrity", "integrity")])


def test_first_verified_copy_stops_the_search(store, start):
    gws = start(3)
    cid = store.add(DATA)
    read = fetch(gws, cid)
    assert read.served_by == gws[0].url and len(read.gateways) == 1
    assert gws[1].requests == {} and gws[2].requests == {}


# -- the fault matrix ------------------------------------------------------------------------


def test_down_slow_wrong_missing_then_flaky_gateway_serves(store, start):
    down, slow, wrong, missing, flaky = start(5)
    cid = store.add(DATA)
    down.faults.mode = "down"
    slow.faults.latency_s = 1.0
    wrong.serve_wrong_bytes = True
    missing.missing = {cid}
    flaky.faults.mode, flaky.faults.flaky_every = "flaky", 2
    while httpx.get(f"{flaky.url}/ipfs/{cid}").status_code != 200:  # warm-up: the client's next request flakes
        pass
    flaky.reset_counters()
    read = fetch([down, slow, wrong, missing, flaky], cid, timeout_s=0.2)
    assert read.status == "ok" and read.content == DATA and read.served_by == flaky.url
    assert statuses(read.gateways) == [
        ("unavailable", "connect"),
        ("unavailable", "timeout"),
        ("integrity", "integrity"),
        ("missing", "not_found"),
        ("ok", None),
    ]
    assert f"{len(DATA)} bytes served do not hash to {cid}" in read.gateways[2].error
    assert flaky.requests[f"GET /ipfs/{cid}"] == 2  # the 503, then the retry


def test_every_gateway_404_is_missing(store, start):
    gws = start(3)
    cid = str(unixfs_cid(b"never added"))
    read = fetch(gws, cid)
    assert (read.status, read.content, read.error) == ("missing", None, "not found on any gateway")
    assert statuses(read.gateways) == [("missing", "not_found")] * 3


def test_one_down_and_the_rest_404_is_unavailable_not_missing(store, start):
    down, *rest = start(3)
    down.faults.mode = "down"
    read = fetch([down, *rest], str(unixfs_cid(b"never added")))
    assert read.status == "unavailable"
    assert statuses(read.gateways) == [("unavailable", "connect"), ("missing", "not_found"), ("missing", "not_found")]


@pytest.mark.parametrize(
    ("mode", "kind"), [("error", "server_error"), ("ratelimit", "rate_limited"), ("truncate", "connect")]
)
def test_unreadable_gateway_is_unavailable(store, start, mode: str, kind: str):
    (gw,) = start(1)
    gw.faults.mode, gw.faults.retry_after_s = mode, 0.01
    read = fetch([gw], store.add(BIG))
    assert read.status == "unavailable" and read.content is None
    assert statuses(read.gateways) == [("unavailable", kind)]


def test_truncated_body_falls_through_to_the_next_gateway(store, start):
    truncating, good = start(2)
    truncating.faults.mode = "truncate"
    read = fetch([truncating, good], store.add(BIG))
    assert read.content == BIG and statuses(read.gateways) == [("unavailable", "connect"), ("ok", None)]


def test_only_wrong_bytes_is_invalid(store, start):
    wrong, missing = start(2)
    cid = store.add(DATA)
    wrong.wrong_bytes = {str(parse_cid(cid).to_v1())}  # any spelling of the CID
    missing.missing = {cid}
    read = fetch([wrong, missing], cid)
    assert read.status == "invalid" and read.content is None
    assert statuses(read.gateways) == [("integrity", "integrity"), ("missing", "not_found")]


def test_bytes_put_under_a_foreign_cid_fail_integrity(store, start):
    (gw,) = start(1)
    cid = str(unixfs_cid(b"the bytes this CID names"))
    store.put(cid, b"something else entirely")
    assert fetch([gw], cid).status == "invalid"


def test_byte_cap_is_too_large(store, start):
    small, _ = start(2)
    cid = store.add(BIG)

    async def go() -> tuple[ObjectRead, ObjectRead]:
        async with client_for([small], max_bytes=100_000) as client:
            return await client.fetch(cid), await client.fetch(cid, max_bytes=len(BIG))

    capped, allowed = asyncio.run(go())
    assert capped.status == "invalid" and statuses(capped.gateways) == [("too_large", "too_large")]
    assert "cap is 100000" in capped.gateways[0].error
    assert allowed.status == "ok"


def test_429_with_retry_after_is_retried_then_succeeds(store, start):
    (gw,) = start(1, "limited")
    gw.limited = 1
    cid = store.add(DATA)
    began = time.perf_counter()
    read = fetch([gw], cid, retry=RetryPolicy(attempts=3, base_delay_s=0.001))
    assert read.status == "ok" and read.content == DATA
    assert time.perf_counter() - began >= 0.2  # Retry-After honoured, not the 1 ms backoff
    assert gw.requests[f"GET /ipfs/{cid}"] == 2


def test_slow_drip_past_the_deadline_is_a_timeout(store, start):
    (gw,) = start(1)
    gw.faults.mode, gw.faults.drip_delay_s = "drip", 0.05
    read = fetch([gw], store.add(DATA * 4), retry=RetryPolicy(attempts=1, deadline_s=0.15))
    assert statuses(read.gateways) == [("unavailable", "timeout")]


# -- redirects -------------------------------------------------------------------------------


def test_redirect_to_an_unconfigured_loopback_host_is_refused(store, start):
    redirecting, elsewhere = start(2)
    cid = store.add(DATA)
    redirecting.redirect_to = elsewhere.url
    read = fetch([redirecting], cid)
    assert read.status == "unavailable"
    assert statuses(read.gateways) == [("unavailable", "url_refused")]
    assert "non-public address 127.0.0.1" in read.gateways[0].error
    assert elsewhere.requests == {}


@pytest.mark.parametrize("target", ["http://169.254.169.254", "http://10.0.0.1:8080", "file://", "http://[::1]:1"])
def test_redirect_to_private_or_odd_targets_is_refused_without_contact(store, start, target: str):
    (gw,) = start(1)
    gw.redirect_to = target
    read = fetch([gw], store.add(DATA))
    assert statuses(read.gateways) == [("unavailable", "url_refused")]


def test_redirect_to_another_configured_gateway_is_followed(store, start):
    redirecting, target = start(2)
    cid = store.add(DATA)
    redirecting.redirect_to = target.url
    read = fetch([redirecting, target], cid)
    assert read.served_by == redirecting.url and read.content == DATA
    assert target.requests[f"GET /ipfs/{cid}"] == 1


def test_redirect_loop_stops_after_three_hops(store, start):
    (gw,) = start(1)
    gw.redirect_to = gw.url
    read = fetch([gw], store.add(DATA))
    assert statuses(read.gateways) == [("unavailable", "url_refused")]
    assert "more than 3 redirects" in read.gateways[0].error
    assert sum(gw.requests.values()) == 4


# -- bad input and sub-paths -----------------------------------------------------------------


@pytest.mark.parametrize(("cid", "path"), [("not-a-cid", ""), ("Qm123", ""), (str(unixfs_cid(DATA)), "/../x")])
def test_bad_reference_is_invalid_without_a_request(start, cid: str, path: str):
    (gw,) = start(1)
    read = fetch([gw], cid, path)
    assert read.status == "invalid" and read.gateways == [] and "[ipfs]" in read.error
    assert gw.requests == {}


def test_sub_path_content_is_ok_but_unverified(store, start):
    plain, directory = start(1)[0], start(1, "directory")[0]
    cid = store.add(DATA)
    assert fetch([plain], cid, "meta/1.json").status == "missing"
    read = fetch([plain, directory], cid, "meta/1.json")
    assert (read.status, read.verified, read.content, read.path) == ("ok", False, b"leaf bytes", "/meta/1.json")
    assert directory.requests[f"GET /ipfs/{cid}"] == 1


# -- probe, every gateway, many objects, stats -----------------------------------------------


def test_probe_reads_only_the_verified_root_block(store, start):
    ok, missing, down = start(3)
    cid = store.add(BIG)
    missing.missing = {cid}
    down.faults.mode = "down"

    async def go() -> list[GatewayRead]:
        async with client_for([ok, missing, down]) as client:
            return await client.probe(cid)

    reads = asyncio.run(go())
    assert statuses(reads) == [("ok", None), ("missing", "not_found"), ("unavailable", "connect")]
    assert [r.gateway for r in reads] == [ok.url, missing.url, down.url]
    assert ok.requests == {f"GET /ipfs/{cid}": 1} and 0 < reads[0].bytes_read < 400  # a 3-chunk file's root node
    assert reads[0].verified and reads[0].form == "block"


def probe(servers: list[GatewayServer], cid: str, **kwargs: object) -> list[GatewayRead]:
    async def go() -> list[GatewayRead]:
        async with client_for(servers) as client:
            return await client.probe(cid, **kwargs)

    return asyncio.run(go())


def heads(servers: list[GatewayServer], cid: str) -> list[int]:
    """Probes of ``cid`` per gateway (raw GETs of its root block)."""
    return [s.requests.get(f"GET /ipfs/{cid}", 0) for s in servers]


def test_probe_stops_at_k_and_records_the_rest_as_skipped(store, start):
    gws = start(4)
    cid = store.add(DATA)
    reads = probe(gws, cid, need=2)
    assert statuses(reads) == [("ok", None), ("ok", None), ("skipped", None), ("skipped", None)]
    assert [r.gateway for r in reads] == [g.url for g in gws] and heads(gws, cid) == [1, 1, 0, 0]


def test_probe_short_of_k_asks_every_other_gateway(store, start):
    gws = start(4)
    cid = store.add(DATA)
    gws[0].missing = {cid}
    gws[1].faults.mode = "down"
    reads = probe(gws, cid, need=2)
    assert statuses(reads) == [("missing", "not_found"), ("unavailable", "connect"), ("ok", None), ("ok", None)]
    assert heads(gws, cid) == [1, FAST.attempts, 1, 1]  # first wave gw0+gw1 fell short: then gw2 and gw3


def test_probe_fewer_than_k_anywhere_reads_all(store, start):
    gws = start(3)
    cid = store.add(DATA)
    gws[1].missing = gws[2].missing = {cid}
    assert statuses(probe(gws, cid, need=2)) == [("ok", None), ("missing", "not_found"), ("missing", "not_found")]


def test_probe_counts_known_reads_and_does_not_repeat_them(store, start):
    gws = start(3)
    cid = store.add(DATA)
    served = GatewayRead(gws[1].url, "ok", verified=True)
    reads = probe(gws, cid, need=2, known=[served])
    assert reads[1] is served and statuses(reads) == [("ok", None), ("ok", None), ("skipped", None)]
    assert heads(gws, cid) == [1, 0, 0]
    assert statuses(probe(gws, cid, need=1, known=[served])) == [("skipped", None), ("ok", None), ("skipped", None)]


def test_first_rotates_the_order_gateways_are_asked_in(store, start):
    gws = start(3)
    cid = store.add(DATA)
    reads = probe(gws, cid, need=1, first=2)
    assert statuses(reads) == [("skipped", None), ("skipped", None), ("ok", None)] and heads(gws, cid) == [0, 0, 1]
    gws[1].missing = {cid}

    async def go() -> ObjectRead:
        async with client_for(gws) as client:
            return await client.fetch(cid, first=1)

    read = asyncio.run(go())
    assert read.served_by == gws[2].url and [g.gateway for g in read.gateways] == [gws[1].url, gws[2].url]


def test_probe_unreadable_gateways_stay_unknown_never_missing(store, start):
    gws = start(3)
    cid = store.add(DATA)
    gws[0].faults.mode = "down"
    gws[1].faults.mode = "error"
    gws[2].missing = {cid}
    reads = probe(gws, cid, need=1)
    assert [r.status for r in reads] == ["unavailable", "unavailable", "missing"]
    assert summarise(reads)[0] == "unavailable"


def test_summarise_ignores_skipped_gateways():
    ok, skipped = GatewayRead("a", "ok"), GatewayRead("b", "skipped")
    assert summarise([ok, skipped]) == ("ok", None)
    assert summarise([GatewayRead("a", "missing"), skipped])[0] == "missing"


def test_fetch_all_gateways_finds_the_one_serving_wrong_bytes(store, start):
    gws = start(3)
    cid = store.add(DATA)
    gws[1].serve_wrong_bytes = True

    async def go() -> list[GatewayRead]:
        async with client_for(gws) as client:
            return await client.fetch_all_gateways(cid)

    assert statuses(asyncio.run(go())) == [("ok", None), ("integrity", "integrity"), ("ok", None)]


def test_fetch_many_dedupes_keeps_order_and_bounds_concurrency(store, start):
    (gw,) = start(1, "counting")
    gw.peak = 0
    cids = [store.add(f"object {i}".encode()) for i in range(8)]
    absent = str(unixfs_cid(b"absent"))
    refs = [(cid, "") for cid in cids] + [(cids[0], ""), (absent, ""), ("bogus", "")]

    async def go() -> list[ObjectRead]:
        async with client_for([gw], max_concurrency_per_host=3) as client:
            return await client.fetch_many(refs)

    reads = asyncio.run(go())
    assert [r.status for r in reads] == ["ok"] * 9 + ["missing", "invalid"]
    assert [r.content for r in reads[:8]] == [f"object {i}".encode() for i in range(8)]
    assert reads[8] is reads[0]
    assert gw.requests[f"GET /ipfs/{cids[0]}"] == 1
    assert gw.peak == 3


def test_stats_count_requests_and_bytes_per_gateway(store, start):
    down, good = start(2)
    down.faults.mode = "down"
    cid = store.add(BIG)

    async def go() -> dict:
        async with client_for([down, good]) as client:
            await client.fetch(cid)
            await client.fetch(cid)
            return client.stats

    stats = asyncio.run(go())
    assert (stats[down.url].requests, stats[down.url].errors, stats[down.url].bytes) == (2, 2, 0)
    assert (stats[good.url].requests, stats[good.url].errors, stats[good.url].bytes) == (2, 0, 2 * len(BIG))


def test_passed_in_client_is_not_closed(store, start):
    (gw,) = start(1)

    async def go() -> bool:
        async with httpx.AsyncClient() as shared:
            async with IpfsGatewayClient([gw.url], client=shared, retry=FAST) as client:
                assert (await client.fetch(store.add(DATA))).status == "ok"
            return shared.is_closed

    assert asyncio.run(go()) is False
