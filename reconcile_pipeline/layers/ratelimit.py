"""Client-side pacing: a token bucket that keeps a client under a provider's request-rate limit.

:class:`TokenBucket` is a sliding log of send times, so it is exact (never more than ``limit`` sends
in any window, no burst overshoot). Used by :class:`reconcile_pipeline.layers.solana.SolanaClient`
(public Solana RPC allows about 100 requests per 10 s).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

__all__ = ["TokenBucket"]


class TokenBucket:
    """At most ``limit`` acquisitions in any ``window_s`` seconds (a sliding log: exact, no burst overshoot)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = max(limit, 1), window_s
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more send fits in the window, then record it."""
        async with self._lock:
            while len(self._sent) >= self.limit:
                wait = self._sent[0] + self.window_s - time.monotonic()
                if wait <= 0:
                    self._sent.popleft()
                else:
                    await asyncio.sleep(wait)
            self._sent.append(time.monotonic())
