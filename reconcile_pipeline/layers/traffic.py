"""Process-wide counts of the requests the layer clients send, and of those that failed (no Dagster).

Each HTTP attempt (IPFS gateways, Pinata, KV), Solana RPC call and R2 call counts once; a failed one also
counts as an error. The progress display (:mod:`..progress`) reads the totals before and after each
snapshot step to show that snapshot's requests and errors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    errors: int = 0

    def __sub__(self, other: Totals) -> Totals:
        return Totals(self.requests - other.requests, self.errors - other.errors)


_lock = threading.Lock()
_requests = 0
_errors = 0


def sent(requests: int = 1) -> None:
    global _requests
    with _lock:
        _requests += requests


def failed(errors: int = 1) -> None:
    global _errors
    with _lock:
        _errors += errors


def totals() -> Totals:
    with _lock:
        return Totals(_requests, _errors)
