"""Connection pools of the IPFS gateway client: a few small httpx pools per gateway.

httpcore (1.0.x) re-scans every connection of a pool for each request it assigns and each response it
closes, polling the socket of each idle one, and its keep-alive pruning counts all connections inside that
loop: the CPU per request grows with the pool's size, quadratically in the pruning. So a gateway's
``max_concurrency_per_host`` connections are split into pools of at most :data:`POOL_CONNECTIONS`, each
request going to the least busy one (with the per-host semaphore in front, a request never waits inside a
pool). Keep-alive is sized to the pool, so connections are reused rather than closed and opened again.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

__all__ = ["POOL_CONNECTIONS", "GatewayPools", "new_client"]

POOL_CONNECTIONS = 4


def new_client(timeout_s: float, connections: int, tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """An httpx client for gateway reads: no redirects followed (the caller re-validates them), ``connections``
    connections at most, all kept alive between requests; ``tls`` the TLS context (default: httpx's own)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    tls = tls or httpx.create_ssl_context()  # what httpx builds by default (certifi, or SSL_CERT_FILE/DIR)
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, limits=limits, verify=tls)


class GatewayPools:
    """``connections`` connections to one gateway, in pools of at most :data:`POOL_CONNECTIONS`."""

    def __init__(self, timeout_s: float, connections: int) -> None:
        count = max(1, math.ceil(connections / POOL_CONNECTIONS))
        size = max(1, math.ceil(connections / count))
        tls = httpx.create_ssl_context()  # one context for the pools: building one costs ~60 ms
        self.clients = [new_client(timeout_s, size, tls) for _ in range(count)]
        self.busy = [0] * count

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        """The least busy pool, for one request."""
        index = min(range(len(self.busy)), key=self.busy.__getitem__)
        self.busy[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.busy[index] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
