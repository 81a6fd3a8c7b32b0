"""Circuit breakers, one per host: a dead host costs one timeout, not one per request.

A :class:`CircuitBreaker` counts consecutive failures of one host (scheme, host, port)::

    closed ──(``failures`` consecutive failures)──► open ──(``cooldown_s`` elapsed)──► half-open
      ▲                                              ▲                                  │
      └───────────── the probe succeeds ─────────────┼───────── the probe fails ◄───────┘

- closed: calls go through; a success resets the count;
- open: calls fail fast with :class:`CircuitOpen` (a ``LayerUnavailable`` whose reason is
  "circuit open"), so the checks that need the host are unknown at once;
- half-open: exactly one call (the probe) goes through; the others fail fast until it ends.

One logical call (with its retries) is counted once; :func:`guarded` runs an awaitable that way.
What counts as a failure (:func:`is_host_failure`): could not read the host at all — refused,
reset, timeout, 5xx, 429 past retries. An answer of any other kind (2xx, 404, 401/403, a body
over the cap, bad data) proves the host is alive and counts as a success. A call that ends any
other way (cancelled, a bug) releases a probe without judging the host.

:class:`BreakerRegistry` holds one breaker per origin; each client owns one registry (the
default), so a run's clients share nothing with the next run's. Thread-safe (R2 calls run on
worker threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import LayerAuthError, LayerError, LayerUnavailable
from .urlpolicy import origin_of

__all__ = ["BreakerPolicy", "BreakerRegistry", "CircuitBreaker", "CircuitOpen", "guarded", "is_host_failure"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
T = TypeVar("T")


class CircuitOpen(LayerUnavailable):
    """The host failed repeatedly and is being left alone for a cool-down: nothing was sent."""

    def __init__(self, *, host: str, retry_in_s: float, layer: str = "", where: str = "") -> None:
        self.host = host
        self.retry_in_s = retry_in_s
        super().__init__("circuit open", layer=layer, where=where)

    @property
    def kind(self) -> str:
        return "circuit_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5  # consecutive host failures that open the circuit
    cooldown_s: float = 30.0  # how long an open circuit fails fast before one probe is let through


def is_host_failure(exc: BaseException | None) -> bool:
    """True when ``exc`` says the host could not be read at all (see the module docstring)."""
    return isinstance(exc, LayerUnavailable) and not isinstance(exc, LayerAuthError | CircuitOpen)


class CircuitBreaker:
    """The breaker of one host; see the module docstring."""

    def __init__(self, host: str, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.rejected = 0  # calls failed fast

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    def acquire(self, *, layer: str = "", where: str = "") -> None:
        """Let one call through, or raise :class:`CircuitOpen`."""
        with self._lock:
            if self._state == OPEN:
                remaining = self._opened_at + self.policy.cooldown_s - self._clock()
                if remaining > 0:
                    self.rejected += 1
                    raise CircuitOpen(host=self.host, retry_in_s=remaining, layer=layer, where=where)
                self._state = HALF_OPEN
            if self._state == HALF_OPEN:
                if self._probing:
                    self.rejected += 1
                    raise CircuitOpen(host=self.host, retry_in_s=0.0, layer=layer, where=where)
                self._probing = True

    def record(self, error: BaseException | None) -> None:
        """Report how the call let through by :meth:`acquire` ended (None: it succeeded)."""
        if is_host_failure(error):
            self._failed()
        elif error is None or isinstance(error, LayerError):  # the host answered
            self._succeeded()
        else:  # cancelled, or a bug: says nothing about the host
            self._release()

    def _succeeded(self) -> None:
        with self._lock:
            self._state, self._failures, self._probing = CLOSED, 0, False

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= max(self.policy.failures, 1):
                self._state, self._opened_at = OPEN, self._clock()
            self._probing = False

    def _release(self) -> None:
        with self._lock:
            self._probing = False


class BreakerRegistry:
    """One :class:`CircuitBreaker` per origin (scheme, host, port)."""

    def __init__(self, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_host(self, host: str) -> CircuitBreaker:
        with self._lock:
            if host not in self._breakers:
                self._breakers[host] = CircuitBreaker(host, self.policy, self._clock)
            return self._breakers[host]

    def for_url(self, url: str) -> CircuitBreaker:
        scheme, host, port = origin_of(url)
        return self.for_host(f"{scheme}://{host}:{port}")

    def states(self) -> dict[str, str]:
        with self._lock:
            breakers = dict(self._breakers)
        return {host: breaker.state for host, breaker in breakers.items()}


async def guarded(breaker: CircuitBreaker, call: Awaitable[T], *, layer: str = "", where: str = "") -> T:
    """Await ``call`` (one logical call, retries included) through ``breaker``; its outcome is counted once."""
    try:
        breaker.acquire(layer=layer, where=where)
    except CircuitOpen:
        if hasattr(call, "close"):
            call.close()  # never awaited: close the coroutine
        raise
    try:
        result = await call
    except BaseException as exc:
        breaker.record(exc)
        raise
    breaker.record(None)
    return result
