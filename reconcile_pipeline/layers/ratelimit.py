"""Client-side pacing: keep every client of one provider under the provider's request-rate limit.

A provider counts the requests of a key (or an address), not of one client object: public Solana RPC allows
about 100 requests per 10 s *in total*, while one reconciliation run reads accounts and signatures at once,
Dagster's multiprocess executor reads them in separate processes, and a schedule may overlap a sensor run.
So the limit is shared:

- :class:`TokenBucket` is a sliding log of request times: at most ``limit`` requests in any ``window_s``.
  A request takes a slot before it is sent and is stamped when it *ends* (:meth:`release`): the provider sees
  it arrive somewhere in between, so a request delayed in flight can never let the next window open early.
- :meth:`TokenBucket.for_provider` returns the bucket of one provider (keyed by its URL, which may hold an
  API key: only a hash of it is kept) shared by every client in every process of the machine: the log
  lives in a small file under the system temporary folder, read and written under ``flock``. A slot a
  crashed process never released expires after ``max_flight_s``. Without ``fcntl`` (not POSIX) the
  bucket is shared within the process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["TokenBucket", "state_dir"]

MAX_FLIGHT_S = 300.0  # a slot older than this was taken by a process that died: it no longer counts


STALE_FILE_S = 86_400.0  # logs of providers not used for a day are removed


def state_dir() -> Path:
    """Where the shared logs live: ``<system temporary folder>/reconcile-ratelimit``."""
    return Path(tempfile.gettempdir()) / "reconcile-ratelimit"


def _prune(folder: Path) -> None:
    """Remove logs nobody used for a day (every test world has its own URL, hence its own log)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime + STALE_FILE_S < time.time():
                    os.unlink(entry.path)


class TokenBucket:
    """At most ``limit`` requests in any ``window_s`` seconds, counted from the end of each request."""

    _registry: dict[tuple[str, int, float], TokenBucket] = {}
    _registry_lock = threading.Lock()

    def __init__(self, limit: int, window_s: float, *, path: Path | None = None) -> None:
        self.limit, self.window_s, self.path = max(limit, 1), window_s, path
        self._log: dict[str, list] = {}  # slot -> [time, in_flight, pid]; in the file when ``path`` is set
        self._lock = threading.RLock()
        self._slots: list[str] = []  # slots taken by this process, released in order

    @classmethod
    def for_provider(cls, key: str, limit: int, window_s: float) -> TokenBucket:
        """The bucket every client of provider ``key`` (its URL) shares, in this process and across processes."""
        digest = hashlib.sha256(f"{key}|{limit}|{window_s}".encode()).hexdigest()[:24]
        path = state_dir() / f"{digest}.json" if fcntl is not None else None
        with cls._registry_lock:
            if (digest, limit, window_s) not in cls._registry and path is not None:
                _prune(path.parent)
            return cls._registry.setdefault((digest, limit, window_s), cls(limit, window_s, path=path))

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then hold a slot until :meth:`release`."""
        while (wait := self._try_take()) > 0:
            await asyncio.sleep(wait)

    def release(self) -> None:
        """The request ended: stamp its slot with the time now (it counts for ``window_s`` from here)."""
        with self._lock:
            slot = self._slots.pop(0) if self._slots else None
        if slot is not None:
            with self._locked_log() as log:
                if slot in log:
                    log[slot] = [time.time(), False, os.getpid()]

    def _try_take(self) -> float:
        """Take a slot (0.0) or say how long to wait before trying again."""
        with self._locked_log() as log:
            now = time.time()
            _expire(log, now, self.window_s)
            if len(log) >= self.limit:
                _drop_dead_flights(log)
            if len(log) < self.limit:
                slot = secrets.token_hex(8)
                log[slot] = [now, True, os.getpid()]
                self._slots.append(slot)
                return 0.0
            ended = [stamp + self.window_s - now for stamp, in_flight, _ in log.values() if not in_flight]
            return max(min(ended, default=0.01), 0.001)

    @contextlib.contextmanager
    def _locked_log(self) -> Iterator[dict[str, list]]:
        if self.path is None:
            with self._lock:
                yield self._log
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            log = _parse(handle.read())
            yield log
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(log))


def _expire(log: dict[str, list], now: float, window_s: float) -> None:
    """Drop ended requests older than the window, flights older than ``MAX_FLIGHT_S`` and stamps from the future."""
    for slot, (stamp, in_flight, _) in list(log.items()):
        if stamp + (MAX_FLIGHT_S if in_flight else window_s) <= now or stamp > now + MAX_FLIGHT_S:
            del log[slot]


def _drop_dead_flights(log: dict[str, list]) -> None:
    """Slots still in flight for a process that no longer exists (killed mid-request) are freed."""
    for slot, (_, in_flight, pid) in list(log.items()):
        if in_flight and pid != os.getpid() and not _alive(pid):
            del log[slot]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _parse(text: str) -> dict[str, list]:
    """The shared log; anything unreadable (a torn write cannot happen under flock, but be safe) starts empty."""
    try:
        log = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(log, dict):
        return {}
    return {slot: entry for slot, entry in log.items() if isinstance(entry, list) and len(entry) == 3}
