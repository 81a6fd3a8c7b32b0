"""What every async HTTP layer client shares: an httpx client it may own, closed with it, and ``async with``."""

from __future__ import annotations

from typing import Self

import httpx


class OwnedHttpClient:
    """Holds ``self._client``: the one passed in (tests, a shared pool) or one of its own, closed by :meth:`aclose`."""

    def _init_client(self, client: httpx.AsyncClient | None, timeout_s: float, **limits: int) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), limits=httpx.Limits(**limits) if limits else httpx.Limits()
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
