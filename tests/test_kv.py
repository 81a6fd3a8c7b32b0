"""The Cloudflare KV REST client against the local KV server (same wire protocol)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from reconcile_pipeline.layers.errors import (
    DecodeError,
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    LayerUnavailable,
)
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.kv import KVClient
from reconcile_pipeline.sandbox.kv import KVServer

TOKEN = "kv-test-token-5f3a9c"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture(scope="module")
def server() -> Iterator[KVServer]:
    with KVServer(account_id="acct1", namespace_id="ns1", token=TOKEN) as srv:
        yield srv


@pytest.fixture(autouse=True)
def clean(server: KVServer) -> None:
    server.faults.reset()
    server.faults.retry_after_s = 0
    server.namespace.clear()
    server.operations.clear()
    server.reset_counters()
    server.list_page_size, server.bulk_supported, server.rate_limit_next = 1000, True, 0


def run(coro_fn, server: KVServer, token: str = TOKEN, **kwargs):  # noqa: ANN001, ANN201
    """Run ``coro_fn(client)`` with a fresh client on a fresh event loop."""

    async def main():  # noqa: ANN202
        kwargs.setdefault("retry", FAST)
        async with KVClient(server.api_url, server.account_id, server.namespace_id, token, **kwargs) as client:
            return await coro_fn(client)

    return asyncio.run(main())


def total_requests(server: KVServer) -> int:
    return sum(server.requests.values())


# -- happy paths --------------------------------------------------------------------------------
def test_put_get_delete_round_trip_with_special_keys(server: KVServer) -> None:
    keys = ["vdc:block:1", "a/b c%d?e#f", "ключ:ü", "vdc:tx:x+y=z"]

    async def scenario(client: KVClient) -> list:
        for i, key in enumerate(keys):
            await client.put(key, f"value-{i}".encode() + b"\x00\xff")
        got = [await client.get(key) for key in keys]
        await client.delete(keys[0])
        return [got, await client.get(keys[0]), client.request_count]

    got, after_delete, count = run(scenario, server)
    assert got == [f"value-{i}".encode() + b"\x00\xff" for i in range(len(keys))]
    assert after_delete is None
    assert sorted(server.namespace) == sorted(keys[1:])
    assert count == 4 + 4 + 1 + 1
    assert server.operations == {"put": 4, "get": 5, "delete": 1}


def test_get_missing_key_is_none(server: KVServer) -> None:
    assert run(lambda c: c.get("vdc:block:404"), server) is None


def test_list_keys_follows_the_cursor_over_several_pages(server: KVServer) -> None:
    for i in range(25):
        server.set(f"vdc:block:{i}", b"{}")
    for i in range(5):
        server.set(f"vdc:tx:t{i}", b"{}")
    server.list_page_size = 7
    names = run(lambda c: c.list_keys("vdc:block:"), server)
    assert names == sorted(f"vdc:block:{i}" for i in range(25))
    assert server.operations["list"] == 4  # 7 + 7 + 7 + 4
    assert len(run(lambda c: c.list_keys(""), server)) == 30
    assert run(lambda c: c.list_keys("nothing:"), server) == []


def test_key_pages_yields_one_listing_page_at_a_time(server: KVServer) -> None:
    for i in range(10):
        server.set(f"vdc:tx:t{i}", b"{}")
    server.list_page_size = 4

    async def pages(client) -> list[list[str]]:
        return [page async for page in client.key_pages("vdc:tx:")]

    assert [len(page) for page in run(pages, server)] == [4, 4, 2]
    assert server.operations["list"] == 3


def test_get_many_uses_bulk_reads_in_batches_of_100(server: KVServer) -> None:
    for i in range(240):
        server.set(f"k{i}", f"v{i}".encode())
    keys = [f"k{i}" for i in range(250)]
    values = run(lambda c: c.get_many(keys), server)
    assert server.operations == {"bulk_get": 3}
    assert list(values) == keys
    assert values["k7"] == b"v7" and values["k239"] == b"v239"
    assert [k for k, v in values.items() if v is None] == [f"k{i}" for i in range(240, 250)]


def test_get_many_respects_a_smaller_bulk_size_and_duplicates(server: KVServer) -> None:
    server.set("a", b"1")
    values = run(lambda c: c.get_many(["a", "b", "a", "c", "d"]), server, bulk_size=2)
    assert values == {"a": b"1", "b": None, "c": None, "d": None}
    assert server.operations == {"bulk_get": 2}


def test_get_many_falls_back_to_single_gets_without_the_bulk_endpoint(server: KVServer) -> None:
    server.bulk_supported = False
    for i in range(5):
        server.set(f"k{i}", f"v{i}".encode())

    async def scenario(client: KVClient) -> tuple:
        first = await client.get_many([f"k{i}" for i in range(6)])
        second = await client.get_many(["k0"])
        return first, second

    first, second = run(scenario, server)
    assert first == {**{f"k{i}": f"v{i}".encode() for i in range(5)}, "k5": None}
    assert second == {"k0": b"v0"}
    assert server.operations == {"bulk_get": 1, "get": 7}  # one probe, then per-key GETs only


def test_get_many_reads_binary_values_one_by_one(server: KVServer) -> None:
    server.set("text", b"hello")
    server.set("binary", b"\xff\x00\xfe")
    values = run(lambda c: c.get_many(["text", "binary"]), server)
    assert values == {"text": b"hello", "binary": b"\xff\x00\xfe"}
    assert server.operations == {"bulk_get": 1, "get": 2}


def test_get_many_of_nothing_sends_nothing(server: KVServer) -> None:
    assert run(lambda c: c.get_many([]), server) == {}
    assert total_requests(server) == 0


# -- unknown is not missing ---------------------------------------------------------------------
def test_server_down_is_unavailable_never_none() -> None:
    stopped = KVServer(token=TOKEN).start()
    stopped.stop()
    for call in (lambda c: c.get("k"), lambda c: c.get_many(["k"]), lambda c: c.list_keys("")):
        with pytest.raises(LayerConnectError) as info:
            run(call, stopped, retry=RetryPolicy(attempts=1))
        assert isinstance(info.value, LayerUnavailable) and info.value.layer == "kv"


def test_connection_dropped_without_response_is_connect_error(server: KVServer) -> None:
    server.set("k", b"v")
    server.faults.mode = "down"
    with pytest.raises(LayerConnectError):
        run(lambda c: c.get("k"), server)
    assert total_requests(server) == 3  # retried


def test_unknown_namespace_404_is_unavailable_not_missing(server: KVServer) -> None:
    async def scenario(client: KVClient):  # noqa: ANN202
        return await client.get("vdc:block:1")

    async def main():  # noqa: ANN202
        async with KVClient(server.api_url, server.account_id, "other-ns", TOKEN, retry=FAST) as client:
            return await scenario(client)

    with pytest.raises(LayerUnavailable, match="404 that is not 'key not found'.*10013"):
        asyncio.run(main())


def test_bad_token_is_auth_error_without_the_token(server: KVServer) -> None:
    bad = "wrong-token-Z9Q8"
    with pytest.raises(LayerAuthError) as info:
        run(lambda c: c.get("k"), server, token=bad)
    assert bad not in str(info.value) and TOKEN not in str(info.value)
    assert total_requests(server) == 1  # auth failures are not retried
    with pytest.raises(LayerAuthError):
        run(lambda c: c.get_many(["a", "b"]), server, token=bad)
    with pytest.raises(LayerAuthError):
        run(lambda c: c.list_keys(""), server, token=bad)


def test_token_is_not_in_repr() -> None:
    client = KVClient("http://127.0.0.1:1/client/v4", "acct", "ns", TOKEN)
    assert TOKEN not in repr(client) and "acct" in repr(client)
    asyncio.run(client.aclose())


def test_429_is_retried_then_succeeds(server: KVServer) -> None:
    server.set("k", b"v")
    server.rate_limit_next = 2
    assert run(lambda c: c.get("k"), server) == b"v"
    assert total_requests(server) == 3


def test_429_past_retries_is_rate_limited(server: KVServer) -> None:
    server.faults.mode = "ratelimit"
    with pytest.raises(LayerRateLimited) as info:
        run(lambda c: c.get("k"), server)
    assert info.value.retry_after == 0
    assert total_requests(server) == 3


def test_5xx_is_retried_then_server_error(server: KVServer) -> None:
    server.set("k", b"v")
    server.faults.mode = "flaky"  # every 2nd request answers 503

    async def twice(client: KVClient) -> list:
        return [await client.get("k"), await client.get("k")]

    assert run(twice, server) == [b"v", b"v"]
    assert total_requests(server) == 3  # one of them was retried
    server.faults.mode = "error"
    with pytest.raises(LayerServerError) as info:
        run(lambda c: c.get("k"), server)
    assert info.value.status_code == 503


def test_truncated_body_is_connect_error(server: KVServer) -> None:
    server.set("k", b"x" * 5000)
    server.faults.mode = "truncate"
    with pytest.raises(LayerConnectError, match="transport failed"):
        run(lambda c: c.get("k"), server)


def test_slow_server_is_timeout(server: KVServer) -> None:
    server.set("k", b"v")
    server.faults.latency_s = 0.5
    with pytest.raises(LayerTimeout):
        run(lambda c: c.get("k"), server, retry=RetryPolicy(attempts=1), timeout_s=0.1)


# -- bad input and odd answers ------------------------------------------------------------------
def test_bulk_size_is_validated() -> None:
    with pytest.raises(ValueError, match="bulk_size must be 1..100"):
        KVClient("http://127.0.0.1:1", "a", "n", "t", bulk_size=101)


def mock_client(handler) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def run_mock(handler, coro_fn):  # noqa: ANN001, ANN201
    async def main():  # noqa: ANN202
        async with mock_client(handler) as http:
            client = KVClient("http://kv.test/client/v4", "a", "n", TOKEN, client=http, retry=FAST)
            return await coro_fn(client)

    return asyncio.run(main())


@pytest.mark.parametrize(
    "body, message",
    [
        (b"<html>oops</html>", "answer is not JSON"),
        (b'{"success": false, "errors": [], "result": []}', "success=False"),
        (b'{"success": true, "result": [{"nom": "x"}]}', "not a list of {name}"),
        (b'{"success": true, "result": [], "result_info": {"cursor": 5}}', "cursor is not a string"),
    ],
)
def test_malformed_list_answers_are_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        run_mock(lambda request: httpx.Response(200, content=body), lambda c: c.list_keys("p"))


def test_a_cursor_that_repeats_is_a_decode_error() -> None:
    page = {"success": True, "result": [{"name": "a"}], "result_info": {"count": 1, "cursor": "same"}}
    with pytest.raises(DecodeError, match="cursor repeats"):
        run_mock(lambda request: httpx.Response(200, json=page), lambda c: c.list_keys(""))


def test_bulk_answer_missing_keys_are_read_singly() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            assert json.loads(request.content) == {"keys": ["a", "b", "c"], "type": "text"}
            return httpx.Response(200, json={"success": True, "result": {"values": {"a": "1", "b": {"x": 1}}}})
        if request.url.path.endswith("/b"):
            return httpx.Response(200, content=b'{"x":1}')
        return httpx.Response(404, json={"success": False, "errors": [{"code": 10009, "message": "not found"}]})

    values = run_mock(handler, lambda c: c.get_many(["a", "b", "c"]))
    assert values == {"a": b"1", "b": b'{"x":1}', "c": None}
    assert sorted(seen) == ["GET /client/v4/accounts/a/storage/kv/namespaces/n/values/b"] + [
        "GET /client/v4/accounts/a/storage/kv/namespaces/n/values/c",
        "POST /client/v4/accounts/a/storage/kv/namespaces/n/bulk/get",
    ]


def test_other_4xx_is_a_data_error_naming_the_key(server: KVServer) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"success": False, "errors": [{"code": 10019, "message": "key too long"}]})

    with pytest.raises(LayerDataError, match=r"HTTP 400, 10019: key too long\) \(at k\)"):
        run_mock(handler, lambda c: c.get("k"))


def test_requests_carry_the_bearer_token() -> None:
    headers: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers["Authorization"])
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": {}})

    run_mock(handler, lambda c: c.put("k", b"v"))
    assert headers == [f"Bearer {TOKEN}"]


# -- the local server's own protocol rules ------------------------------------------------------
def test_server_rejects_over_100_keys_bad_cursor_and_missing_auth(server: KVServer) -> None:
    base = f"{server.api_url}/accounts/acct1/storage/kv/namespaces/ns1"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client() as http:
        too_many = http.post(f"{base}/bulk/get", json={"keys": [str(i) for i in range(101)]}, headers=auth)
        bad_cursor = http.get(f"{base}/keys", params={"cursor": "!!!"}, headers=auth)
        no_auth = http.get(f"{base}/values/k")
        capped = http.get(f"{base}/keys", params={"limit": "5000"}, headers=auth)
    assert too_many.status_code == 400 and too_many.json()["success"] is False
    assert bad_cursor.status_code == 400
    assert no_auth.status_code == 401 and no_auth.json()["errors"][0]["code"] == 10000
    assert capped.status_code == 200 and capped.json()["result_info"] == {"count": 0, "cursor": ""}
