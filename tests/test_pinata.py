"""PinataClient against the local Pinata v1 API server (and a gateway over the same store)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import (
    DecodeError,
    IntegrityError,
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerRateLimited,
    LayerServerError,
)
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import IpfsGatewayClient
from reconcile_pipeline.layers.pinata import PinataClient
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.sandbox.httpserver import Faults
from reconcile_pipeline.sandbox.ipfs import ContentStore, GatewayServer
from reconcile_pipeline.sandbox.pinata import PinataServer

JWT = "eyJhbGciOiJIUzI1NiJ9.local-test-secret.c2lnbmF0dXJl"
FAST = RetryPolicy(attempts=2, base_delay_s=0.01)
BIG = bytes(range(256)) * 1200  # 307,200 bytes: two chunks


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PinataServer, GatewayServer]]:
    store = ContentStore()
    pinata, gateway = PinataServer(store, jwt=JWT).start(), GatewayServer(store).start()
    yield pinata, gateway
    stoppers = [threading.Thread(target=server.stop) for server in (pinata, gateway)]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()


@pytest.fixture
def pinata(servers) -> PinataServer:
    server = servers[0]
    server.faults = Faults()
    for record in server.store.pins():
        server.store.unpin(record.cid)
    server.reset_counters()
    return server


def run(pinata: PinataServer, work: Callable[[PinataClient], Awaitable], **kwargs: object):
    kwargs.setdefault("retry", FAST)
    jwt = kwargs.pop("jwt", JWT)

    async def go():
        async with PinataClient(pinata.url, jwt, **kwargs) as client:
            return await work(client)

    return asyncio.run(go())


def test_authentication_succeeds_with_the_jwt(pinata):
    answer = run(pinata, lambda c: c.test_authentication())
    assert answer == {"message": "Congratulations! You are communicating with the Pinata API!"}


@pytest.mark.parametrize("jwt", ["wrong-token", ""])
def test_auth_failure_is_layer_auth_error_without_the_jwt(pinata, jwt: str):
    with pytest.raises(LayerAuthError) as caught:
        run(pinata, lambda c: c.pinned_cids(), jwt=jwt)
    assert caught.value.layer == "pinata" and caught.value.kind == "auth"
    assert "HTTP 401" in str(caught.value)
    assert JWT not in str(caught.value) and (not jwt or jwt not in str(caught.value))
    assert pinata.requests["GET /data/pinList"] == 1  # not retried


def test_jwt_never_in_repr_or_bad_header_error():
    client = PinataClient("http://127.0.0.1:1", JWT)
    assert JWT not in repr(client) and "**********" in repr(client)
    with pytest.raises(ValueError) as caught:
        PinataClient("http://127.0.0.1:1", "secret\r\nX-Injected: 1")
    assert "secret" not in str(caught.value)
    asyncio.run(client.aclose())


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("data", [b"level image bytes", BIG])
def test_pin_file_returns_the_unixfs_cid(pinata, version: int, data: bytes):
    cid = run(pinata, lambda c: c.pin_file(data, "Gold.png", cid_version=version))
    assert cid == str(unixfs_cid(data, cid_version=version))
    assert parse_cid(cid).version == version
    assert pinata.store.get(cid) == data
    (record,) = pinata.store.pins()
    assert (record.cid, record.name, record.size) == (cid, "Gold.png", len(data))


def test_pin_file_with_a_different_expected_cid_is_an_integrity_error(pinata):
    other = str(unixfs_cid(b"other bytes"))
    with pytest.raises(IntegrityError, match=f"expected {other}"):
        run(pinata, lambda c: c.pin_file(b"these bytes", "x", expected_cid=other))
    v1 = str(unixfs_cid(BIG).to_v1())  # the same content named in v1 is no mismatch
    assert run(pinata, lambda c: c.pin_file(BIG, "x", expected_cid=v1)) == str(unixfs_cid(BIG))


def test_pin_list_paginates_over_more_than_two_pages(pinata):
    expected = {pinata.store.add(f"object {i}".encode(), cid_version=i % 2) for i in range(7)}
    for cid in expected:
        pinata.store.pin(cid, name=cid[:8])
    found = run(pinata, lambda c: c.pinned_cids(), page_limit=3)
    assert found == expected
    assert {parse_cid(cid).version for cid in found} == {0, 1}  # spellings kept as given
    assert pinata.requests["GET /data/pinList"] == 3


def test_pin_list_rows_have_pinatas_shape(pinata):
    cid = pinata.store.add(b"row shape")
    pinata.store.pin(cid, "row", {"level": "Gold"})
    (row,) = run(pinata, lambda c: c.pin_list())
    assert set(row) == {"id", "ipfs_pin_hash", "size", "user_id", "date_pinned", "date_unpinned", "metadata", "regions"}
    assert row["ipfs_pin_hash"] == cid and row["date_unpinned"] is None and row["regions"] == []
    assert row["metadata"] == {"name": "row", "keyvalues": {"level": "Gold"}}
    assert row["date_pinned"].endswith("Z")


def test_server_enforces_page_limit_and_filters_by_hash(pinata):
    headers = {"Authorization": f"Bearer {JWT}"}
    too_many = httpx.get(f"{pinata.url}/data/pinList", params={"pageLimit": 1001}, headers=headers)
    assert too_many.status_code == 400 and too_many.json()["error"]["reason"] == "INVALID_REQUEST"
    cids = [pinata.store.add(f"filter {i}".encode()) for i in range(2)]
    for cid in cids:
        pinata.store.pin(cid)
    page = httpx.get(f"{pinata.url}/data/pinList", params={"hashContains": cids[1]}, headers=headers).json()
    assert page["count"] == 1 and page["rows"][0]["ipfs_pin_hash"] == cids[1]
    with pytest.raises(ValueError, match="page_limit"):
        PinataClient(pinata.url, JWT, page_limit=1001)


def test_pin_json_then_fetch_through_a_gateway_returns_the_exact_bytes(servers, pinata):
    gateway = servers[1]
    metadata = {"name": "Gold #1", "level": "Gold", "image": "ipfs://Qm…", "attributes": [{"trait": "ü"}]}
    cid = run(pinata, lambda c: c.pin_json(metadata, "1.json"))
    exact = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    assert cid == str(unixfs_cid(exact))

    async def read():
        async with IpfsGatewayClient([gateway.url], retry=FAST) as client:
            return await client.fetch(cid)

    result = asyncio.run(read())
    assert (result.status, result.verified, result.content) == ("ok", True, exact)
    assert cid in run(pinata, lambda c: c.pinned_cids())


def test_pin_by_hash_pins_present_content_and_queues_absent(pinata):
    present = pinata.store.add(b"already on the network")
    absent = str(unixfs_cid(b"nowhere"))
    job = run(pinata, lambda c: c.pin_by_hash(present, "again"))
    assert (job["ipfsHash"], job["status"], job["name"]) == (present, "prechecking", "again")
    assert run(pinata, lambda c: c.pin_by_hash(absent))["status"] == "searching"
    assert run(pinata, lambda c: c.pinned_cids()) == {present}
    assert absent in pinata.pin_queue


def test_unpin_removes_the_pin_and_a_second_unpin_is_refused(pinata):
    cid = run(pinata, lambda c: c.pin_file(b"to be unpinned", "u"))
    run(pinata, lambda c: c.unpin(cid))
    assert run(pinata, lambda c: c.pinned_cids()) == set()
    with pytest.raises(LayerDataError, match="has not pinned") as caught:
        run(pinata, lambda c: c.unpin(cid))
    assert caught.value.layer == "pinata"


def test_bad_cid_input_is_a_pinata_decode_error(pinata):
    with pytest.raises(DecodeError) as caught:
        run(pinata, lambda c: c.pin_by_hash("not-a-cid"))
    assert caught.value.layer == "pinata" and caught.value.where == "not-a-cid"
    assert pinata.requests == {}


@pytest.mark.parametrize(
    ("mode", "error"), [("down", LayerConnectError), ("error", LayerServerError), ("ratelimit", LayerRateLimited)]
)
def test_unreachable_pinata_is_unavailable(pinata, mode: str, error: type):
    pinata.faults.mode, pinata.faults.retry_after_s = mode, 0.01
    with pytest.raises(error) as caught:
        run(pinata, lambda c: c.pinned_cids())
    assert caught.value.layer == "pinata" and JWT not in str(caught.value)
    assert pinata.requests["GET /data/pinList"] == 2  # retried once


def test_rows_that_are_not_cids_are_skipped(pinata):
    good = str(unixfs_cid(b"good"))
    page = {"count": 2, "rows": [{"ipfs_pin_hash": good}, {"ipfs_pin_hash": "mock-hash-123"}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=page))

    async def go():
        async with httpx.AsyncClient(transport=transport) as http:
            client = PinataClient("https://api.pinata.test", JWT, client=http)
            return await client.pinned_cids(), client.invalid_rows

    assert asyncio.run(go()) == ({good}, ["mock-hash-123"])


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]", b'{"rows": "x", "count": 1}'])
def test_malformed_answers_are_decode_errors(body: bytes):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))

    async def go():
        async with httpx.AsyncClient(transport=transport) as http:
            return await PinataClient("https://api.pinata.test", JWT, client=http).pin_list()

    with pytest.raises(DecodeError) as caught:
        asyncio.run(go())
    assert caught.value.layer == "pinata"


def test_is_pinned_asks_for_one_cid_in_either_spelling_not_the_whole_list(pinata):
    for index in range(30):  # a pin list of many pages
        pinata.store.pin(pinata.store.add(f"other object {index}".encode()))
    v0 = pinata.store.add(b"pinned as v0")
    pinata.store.pin(v0)
    v1 = pinata.store.add(b"pinned as v1", cid_version=1)
    pinata.store.pin(v1)
    unpinned = pinata.store.add(b"stored, never pinned")
    pinata.reset_counters()
    found = run(pinata, lambda c: c.is_pinned(str(parse_cid(v0).to_v1())), page_limit=5)
    assert found is True and sum(pinata.requests.values()) == 1  # the v0 spelling matched first
    assert run(pinata, lambda c: c.is_pinned(v0)) is True
    assert run(pinata, lambda c: c.is_pinned(v1)) is True  # raw leaves: no v0 spelling, one query
    pinata.reset_counters()
    assert run(pinata, lambda c: c.is_pinned(unpinned)) is False
    assert sum(pinata.requests.values()) == 2  # v0 and v1 spellings, whatever the size of the pin list


def test_is_pinned_refuses_a_non_cid_and_reports_an_outage(pinata):
    with pytest.raises(DecodeError):
        run(pinata, lambda c: c.is_pinned("not-a-cid"))
    pinata.faults.mode = "down"
    with pytest.raises(LayerConnectError):
        run(pinata, lambda c: c.is_pinned(str(unixfs_cid(b"x"))))
