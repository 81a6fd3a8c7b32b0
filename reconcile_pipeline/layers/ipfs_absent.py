"""Content a gateway cannot retrieve, told from a gateway that is down, by asking it for a control CID.

Real gateways never answer 404 for content no node holds: js-ipfs and Kubo search until the client gives up,
public gateways answer 504 after their own timeout, Helia's verified-fetch answers 412 at once. Whether such an
answer means "this gateway cannot retrieve this CID" or "this gateway is broken" is decided the way an operator
would: a gateway that served a CID known to be present (verified bytes: a configured control CID, or a CID
verified earlier in the run) *after* the failing read began is readable, so its timeout, 504 or 412 is evidence
that it cannot retrieve the other CID (``missing`` on that gateway). A gateway that serves no control stays
unreadable (unknown), and only then does the failure count towards its circuit breaker.

:class:`Liveness` keeps, per gateway, when it last served verified bytes and when a control read last failed;
concurrent failing reads of one gateway share one control read.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

from .cid import CID
from .errors import LayerError, LayerServerError, LayerTimeout

__all__ = ["ABSENT_STATUS", "ControlRead", "Liveness", "absent_error", "absent_status"]

ABSENT_STATUS = frozenset({412, 504})  # Helia's "not retrievable", a gateway's own timeout
RECENT = 4  # CIDs verified this run kept as fallback controls
TRIES = 3  # control CIDs tried per decision (one that is absent too is no proof either way)

# a control read of one gateway: True verified bytes, False an answer without them (404, wrong bytes),
# None the gateway could not be read
ControlRead = Callable[[str, CID], Awaitable[bool | None]]


def absent_error(error: LayerError) -> bool:
    """A read error that a gateway holding no copy gives: a timeout, or 504 after retries."""
    return isinstance(error, LayerTimeout) or (isinstance(error, LayerServerError) and error.status_code == 504)


def absent_status(status: int) -> bool:
    """An HTTP answer that a gateway holding no copy gives (412, 504)."""
    return status in ABSENT_STATUS


class Liveness:
    """Per gateway: is it readable since a given moment? See the module docstring."""

    def __init__(self, controls: list[CID], read: ControlRead, clock: Callable[[], float] = time.monotonic) -> None:
        self.controls = list(controls)
        self._read = read
        self._clock = clock
        self._recent: deque[CID] = deque(maxlen=RECENT)
        self._proved: dict[str, float] = {}
        self._refuted: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.control_reads = 0

    def now(self) -> float:
        return self._clock()

    def served(self, gateway: str, cid: CID) -> None:
        """``gateway`` just served verified bytes of ``cid``."""
        self._proved[gateway] = self._clock()
        if all(known.multihash != cid.multihash for known in self._recent):
            self._recent.append(cid)

    async def readable(self, gateway: str, since: float, absent: CID) -> bool:
        """Whether ``gateway`` served verified bytes at or after ``since`` (reading a control CID if need be)."""
        if self._proved.get(gateway, -math.inf) >= since:
            return True
        async with self._locks.setdefault(gateway, asyncio.Lock()):
            if self._proved.get(gateway, -math.inf) >= since:
                return True
            if self._refuted.get(gateway, -math.inf) >= since:
                return False
            for cid in self._candidates(absent):
                self.control_reads += 1
                outcome = await self._read(gateway, cid)
                if outcome:
                    self.served(gateway, cid)
                    return True
                if outcome is None:
                    break
            self._refuted[gateway] = self._clock()
            return False

    def _candidates(self, absent: CID) -> list[CID]:
        seen = {absent.multihash}
        out = []
        for cid in [*self.controls, *reversed(self._recent)]:
            if cid.multihash not in seen:
                seen.add(cid.multihash)
                out.append(cid)
        return out[:TRIES]
