"""The IPFS Pinning Service API client against the local service (same wire protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import LayerAuthError, LayerDataError, LayerServerError
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.pinning_service import PinningServiceClient
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.sandbox.pinning_service import PinningServiceServer

TOKEN = "pin-svc-token-81c2"
FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02)
CIDS = [str(unixfs_cid(b"content %d" % i)) for i in range(25)]


@pytest.fixture
def service() -> Iterator[PinningServiceServer]:
    present = set(CIDS[:20])
    with PinningServiceServer(TOKEN, has_content=lambda cid: str(parse_cid(cid).to_v0()) in present) as server:
        yield server


def run(service: PinningServiceServer, call, token: str = TOKEN):  # noqa: ANN001, ANN201
    async def main():  # noqa: ANN202
        async with PinningServiceClient("archive", service.url, token, retry=FAST) as client:
            return await call(client), client.request_count

    return asyncio.run(main())


def test_statuses_ask_five_cids_a_request_in_both_spellings(service: PinningServiceServer) -> None:
    for cid in CIDS[:12]:
        service.pin(cid, name=cid[:8])
    service.pin(str(parse_cid(CIDS[12]).to_v1()))  # pinned in its v1 spelling
    service.pin(CIDS[21])  # content nobody has: stays queued
    (pinned, requests) = run(service, lambda c: c.pinned(CIDS))
    assert pinned == set(CIDS[:13]) and requests == 5 == sum(service.requests.values())
    statuses, _ = run(service, lambda c: c.statuses([CIDS[21], CIDS[24]]))
    assert [p.status for p in statuses[CIDS[21]]] == ["queued"] and statuses[CIDS[24]] == []


def test_pin_pages_follow_before_until_count(service: PinningServiceServer) -> None:
    for _ in range(3):
        for cid in CIDS[:20]:
            service.pin(cid)

    async def every_page(client: PinningServiceClient) -> list[int]:
        return [len(page) async for page in client.pin_pages()]

    client_pages = asyncio.run(_pages_with_limit(service, 25))
    assert sum(client_pages) == 60 and len(client_pages) == 3
    assert run(service, every_page)[0] == [60]


async def _pages_with_limit(service: PinningServiceServer, limit: int) -> list[int]:
    import reconcile_pipeline.layers.pinning_service as module

    saved, module.MAX_LIMIT = module.MAX_LIMIT, limit
    try:
        async with PinningServiceClient("archive", service.url, TOKEN, retry=FAST) as client:
            return [len(page) async for page in client.pin_pages()]
    finally:
        module.MAX_LIMIT = saved


def test_add_pins_by_cid_and_remove(service: PinningServiceServer) -> None:
    added, _ = run(service, lambda c: c.add(CIDS[3], name="re-pin"))
    assert added.status == "pinned" and added.cid == CIDS[3]
    run(service, lambda c: c.remove(added.requestid))
    assert service.pins == {}


def test_bad_token_is_an_auth_error_and_never_shown(service: PinningServiceServer) -> None:
    with pytest.raises(LayerAuthError) as caught:
        run(service, lambda c: c.pinned(CIDS[:1]), token="wrong-secret-token")
    assert "wrong-secret-token" not in str(caught.value) + repr(caught.value)


def test_server_errors_are_unavailable_not_empty(service: PinningServiceServer) -> None:
    service.faults.arm("error")
    with pytest.raises(LayerServerError):
        run(service, lambda c: c.pinned(CIDS[:1]))


def test_a_bad_cid_is_refused_by_the_service(service: PinningServiceServer) -> None:
    async def add_raw(client: PinningServiceClient) -> object:
        return await client._json("POST", "/pins", ok=(202,), json={"cid": "not-a-cid"})

    with pytest.raises(LayerDataError, match="BAD_REQUEST"):
        run(service, add_raw)
