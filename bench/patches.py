"""Experiments, not product code: the changes proposed for the missed targets, applied in a bench process only.

``scale.measure(..., patches=[...])`` and ``regular.solana_snapshots(..., patches=[...])`` apply them before
measuring, so the report can say what each proposed change buys; the scale runs compare the findings with
the unpatched run's by digest (they must be identical). The files under reconcile_pipeline/ are not touched:
each patch here is the exact change proposed for the named function (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import re
import threading
import time

import numpy as np
import pandas as pd

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(_B58)}
_CID_V0 = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{44}")


def dedupe_omap() -> None:
    """omap: call the function once per distinct value (pd.factorize), not once per row."""
    from reconcile_pipeline.checks import nft_checks_cid, nft_join, nft_join_ipfs

    original = nft_join_ipfs.omap

    def omap(series: pd.Series, function) -> pd.Series:
        try:
            codes, uniques = pd.factorize(series.astype("object"), use_na_sentinel=True)
        except TypeError:  # unhashable values (lists): row by row
            return original(series, function)
        mapped = np.empty(len(uniques) + 1, dtype=object)
        mapped[:-1] = [function(value) for value in uniques]
        mapped[-1] = function(None)
        return pd.Series(mapped[codes], index=series.index, dtype="object")

    for module in (nft_join_ipfs, nft_join, nft_checks_cid):
        module.omap = omap


def _v1_of_v0(text: str) -> str | None:
    """CIDv1 (base32) text of a CIDv0 string without building CID objects; None if it is not one."""
    if len(text) != 46 or not _CID_V0.fullmatch(text):
        return None
    number = 0
    for char in text:
        number = number * 58 + _B58_INDEX[char]
    if number.bit_length() > 34 * 8:
        return None
    multihash = number.to_bytes(34, "big")
    if multihash[:2] != b"\x12\x20":
        return None
    return "b" + base64.b32encode(b"\x01\x70" + multihash).decode().rstrip("=").lower()


def fast_cid_keys() -> None:
    """cid_key / ref_key: a CIDv0 fast path and a per-process cache (CIDs are immutable names)."""
    from reconcile_pipeline.checks import nft_join, nft_join_ipfs

    slow_cid, slow_ref = nft_join_ipfs.cid_key, nft_join_ipfs.ref_key

    @functools.lru_cache(maxsize=1 << 21)
    def cid_key(text: object) -> str | None:
        if isinstance(text, str) and (fast := _v1_of_v0(text.strip())):
            return fast
        return slow_cid(text)

    @functools.lru_cache(maxsize=1 << 21)
    def ref_key(uri: object) -> str | None:
        if isinstance(uri, str):
            stripped = uri.strip()
            for prefix in ("ipfs://", "https://gateway.pinata.cloud/ipfs/"):
                if stripped.startswith(prefix) and (fast := _v1_of_v0(stripped[len(prefix) :])):
                    return fast
        return slow_ref(uri)

    nft_join_ipfs.cid_key = nft_join.cid_key = cid_key
    nft_join_ipfs.ref_key = ref_key


def duplicate_mint_prefilter() -> None:
    """DB_DUPLICATE_MINT: keep the (wallet, level) groups with more than one operation (vectorized)
    before the per-group Python aggregation, which then runs on the duplicates only."""
    from reconcile_pipeline.checks import nft_checks, nft_checks_db

    original = nft_checks_db.check_db_duplicate_mint

    def check_db_duplicate_mint(nft: pd.DataFrame, settings) -> pd.DataFrame:
        counts = nft.groupby(["wallet", "db_level"], dropna=True)["op_id"].transform("nunique")
        return original(nft[counts.fillna(0) > 1], settings)

    nft_checks_db.check_db_duplicate_mint = check_db_duplicate_mint
    nft_checks.NFT_ROW_CHECKS["DB_DUPLICATE_MINT"] = check_db_duplicate_mint


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
    "dedupe_omap": dedupe_omap,
    "fast_cid_keys": fast_cid_keys,
    "duplicate_mint_prefilter": duplicate_mint_prefilter,
    "shared_rate_limit": shared_rate_limit,
}


def apply(names: list[str]) -> None:
    for name in names:
        PATCHES[name]()
