"""The shared HTTP seam (layers/http.fetch) against a loopback server with each injected fault."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconcile_pipeline.layers.errors import (
    LayerAuthError,
    LayerConnectError,
    LayerDataError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    LayerUnavailable,
    ResponseTooLarge,
    redact_url,
)
from reconcile_pipeline.layers.http import RetryPolicy, fetch
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.05)


class Echo(LoopbackServer):
    def route(self, request: Request) -> Response:
        if request.path == "/auth":
            return Response(401, b"no")
        if request.path == "/missing":
            return Response(404, b"nope")
        return Response(200, b"x" * 1000)


@pytest.fixture(scope="module")
def server():
    with Echo() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset(server):
    server.faults.reset()
    server.faults.retry_after_s = 0.0
    server.reset_counters()


def get(server, path="/a", **kwargs):
    async def go():
        async with httpx.AsyncClient(timeout=2.0) as client:
            return await fetch(client, "GET", server.url + path, layer="test", **kwargs)

    return asyncio.run(go())


def test_happy_path_counts_requests_and_bytes(server):
    result = get(server)
    assert (result.status_code, len(result.content)) == (200, 1000)
    assert server.requests["GET /a"] == 1 and server.bytes_sent == 1000


def test_404_is_a_result_not_an_error(server):
    assert get(server, "/missing").status_code == 404


@pytest.mark.parametrize(
    "mode, error",
    [
        ("down", LayerConnectError),
        ("error", LayerServerError),
        ("ratelimit", LayerRateLimited),
        ("truncate", LayerConnectError),
    ],
)
def test_each_fault_maps_to_its_error_after_retries(server, mode, error):
    server.faults.mode = mode
    with pytest.raises(error) as err:
        get(server, "/a?token=secret-value", retry=FAST)
    assert isinstance(err.value, LayerUnavailable)
    assert "secret-value" not in str(err.value) and "token=***" in str(err.value)
    assert server.requests["GET /a"] == 2  # retried once


def test_flaky_server_succeeds_on_retry(server):
    server.faults.mode, server.faults.flaky_every = "flaky", 1
    with pytest.raises(LayerServerError):
        get(server, retry=FAST)
    server.faults.flaky_every = 2
    assert get(server, retry=FAST).status_code == 200


def test_auth_error_is_not_retried(server):
    with pytest.raises(LayerAuthError):
        get(server, "/auth", retry=FAST)
    assert server.requests["GET /auth"] == 1


def test_byte_cap_is_data_error_and_not_retried(server):
    with pytest.raises(ResponseTooLarge) as err:
        get(server, max_bytes=10, retry=FAST)
    assert isinstance(err.value, LayerDataError) and err.value.limit == 10
    assert server.requests["GET /a"] == 1


def test_slow_drip_hits_the_deadline(server):
    server.faults.mode, server.faults.drip_delay_s = "drip", 0.05
    with pytest.raises(LayerTimeout):
        get(server, retry=RetryPolicy(attempts=1, deadline_s=0.3))


def test_latency_past_client_timeout_is_a_timeout(server):
    server.faults.latency_s = 0.5

    async def go():
        async with httpx.AsyncClient(timeout=0.1) as client:
            return await fetch(client, "GET", server.url + "/a", layer="test", retry=RetryPolicy(attempts=1))

    with pytest.raises(LayerTimeout):
        asyncio.run(go())


def test_retry_after_is_honoured():
    policy = RetryPolicy(attempts=3, base_delay_s=10, max_delay_s=5)
    assert policy.delay(1, retry_after=0.2) == 0.2
    assert policy.delay(1, retry_after=100) == 5
    assert 5 <= policy.delay(1) <= 5  # backoff capped


def test_connection_refused_on_a_closed_port():
    server = Echo().start()
    url = server.url
    server.stop()

    async def go():
        async with httpx.AsyncClient(timeout=1.0) as client:
            await fetch(client, "GET", url, layer="test", retry=FAST)

    with pytest.raises(LayerConnectError):
        asyncio.run(go())


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://user:pw@host/x?token=abc&b=1", "http://host/x?token=***&b=1"),
        ("http://[::1]:8080/p?api_key=k", "http://[::1]:8080/p?api_key=***"),
        ("http://host:99999/x", "<unparseable url>"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected
