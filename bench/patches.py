"""Experiments, not product code: the changes proposed for the missed targets, applied in a bench process only.

``scale.measure(..., patches=[...])`` and ``regular.solana_snapshots(..., patches=[...])`` apply them before
measuring, so the report can say what each proposed change buys; the scale runs compare the findings with
the unpatched run's by digest (they must be identical). The files under reconcile_pipeline/ are not touched:
each patch here is the exact change proposed for the named function (see bench/README.md). The scale
experiments (one call per distinct value, CIDv0 keys without decoding, the DB_DUPLICATE_MINT prefilter)
are in the product code now, so only the rate-limit experiment is left.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time


class ProviderBucket:
    """The bucket proposed for layers/ratelimit.py: at most ``limit`` requests in any ``window_s`` seconds *as
    the provider sees them*, for every client of the provider in the process.

    A slot is taken before sending and stamped when the attempt ends: a request delayed in flight
    (connection set-up, a slow first byte) cannot let the next window open early, which a stamp taken at
    send time does. The log is guarded by a thread lock and waits with ``asyncio.sleep``, so one bucket
    serves every event loop of the process (each Dagster asset runs its own ``asyncio.run``)."""

    _shared: dict[tuple[str, int, float], ProviderBucket] = {}
    _shared_lock = threading.Lock()

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = max(limit, 1), window_s
        self._done: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._lock = threading.Lock()

    @classmethod
    def for_provider(cls, key: str, limit: int, window_s: float) -> ProviderBucket:
        with cls._shared_lock:
            return cls._shared.setdefault((key, limit, window_s), cls(limit, window_s))

    async def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._done and self._done[0] + self.window_s <= now:
                    self._done.popleft()
                if len(self._done) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                wait = self._done[0] + self.window_s - now if self._done else 0.01
            await asyncio.sleep(max(wait, 0.001))

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._done.append(time.monotonic())


def shared_rate_limit() -> None:
    """SolanaClient: one ProviderBucket per RPC origin, released when the attempt ends."""
    from reconcile_pipeline.layers import solana

    class _Free:
        async def acquire(self) -> None:
            return None

        def release(self) -> None:
            return None

    init, attempt = solana.SolanaClient.__init__, solana.SolanaClient._attempt

    def __init__(self, rpc_url: str, **kwargs) -> None:
        init(self, rpc_url, **kwargs)
        limit, window = kwargs.get("requests_per_window", 100), kwargs.get("window_s", 10.0)
        self._provider_bucket = ProviderBucket.for_provider(self.where, limit, window)
        self._bucket = _Free()

    async def _attempt(self, method: str, params: list, started: float):
        await self._provider_bucket.acquire()
        try:
            return await attempt(self, method, params, started)
        finally:
            self._provider_bucket.release()

    solana.SolanaClient.__init__, solana.SolanaClient._attempt = __init__, _attempt


PATCHES = {
    "shared_rate_limit": shared_rate_limit,
}


def apply(names: list[str]) -> None:
    unknown = [name for name in names if name not in PATCHES]
    if unknown:
        raise ValueError(f"unknown patch(es) {', '.join(unknown)}; known: {', '.join(PATCHES)}")
    for name in names:
        PATCHES[name]()
