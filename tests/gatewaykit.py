"""Local IPFS gateways over one content store, for the gateway test modules (started once per module)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from reconcile_pipeline.sandbox.ipfs import ContentStore, GatewayServer


def gateway_servers(count: int) -> Iterator[tuple[ContentStore, list[GatewayServer]]]:
    """``count`` gateways serving one store; stopped together (in parallel) when the generator closes."""
    store = ContentStore()
    gateways = [GatewayServer(store, name=f"gw{i}").start() for i in range(count)]
    yield store, gateways
    stoppers = [threading.Thread(target=g.stop) for g in gateways]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
