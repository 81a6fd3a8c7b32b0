"""Server-side request logs for the bench world, added by wrapping (the sandbox files stay as they are).

:func:`attach_log` replaces one server's ``_count`` with a wrapper that also appends
``(monotonic time, method, kind)`` to a :class:`RequestLog`; ``kind`` is the first path segment
(``ipfs``, ``client``, ``data``, the bucket...), so 10,000 CIDs do not make 10,000 counter keys.
CLOCK_MONOTONIC is system-wide on Linux, so times logged here compare with times taken in the
measured process. :func:`max_in_window` is the rate-limit measurement: the most requests the server
saw in any sliding window of ``window_s`` seconds.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter

from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[float, str, str]] = []

    def add(self, method: str, kind: str) -> None:
        with self._lock:
            self.entries.append((time.monotonic(), method, kind))

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def snapshot(self) -> list[tuple[float, str, str]]:
        with self._lock:
            return list(self.entries)


def request_kind(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    return parts[0] if parts else "/"


def attach_log(server: LoopbackServer, log: RequestLog) -> None:
    """Log every request ``server`` counts (its own counters keep working)."""
    counted = server._count

    def count_and_log(request: Request) -> None:
        counted(request)
        log.add(request.method, request_kind(request.path))

    server._count = count_and_log  # type: ignore[method-assign]


def summarise(entries: list[tuple[float, str, str]]) -> dict[str, int]:
    return dict(Counter(f"{method} /{kind}" for _, method, kind in entries))


def max_in_window(times: list[float], window_s: float) -> int:
    """The largest number of ``times`` inside any half-open window [t, t + window_s)."""
    ordered = sorted(times)
    best = 0
    for index, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window_s) - index)
    return best
