"""What an apply session holds: the settings, each layer's client (built from settings, lazily), the archive.

The async clients (KV, Pinata, gateways, Solana) run on one event loop owned by the session
(:meth:`ApplyContext.run`); R2 and the database are used synchronously. Reads (the current state, the
re-check, the ledger) go through the read clients the snapshots use (``db``, ``kv``, ``r2``, ``pinata``);
every write to a layer goes through its write client (``db_write``, ``kv_write``, ``r2_write``,
``pinata_write``), built from the repairs' write credentials (``settings.repairs``; each falls back to
the read credential when unset). The Solana chain and the gateways are only read. Errors the handlers raise:
:class:`RepairRefused` (the source does not validate, the truth would be touched, the recomputed CID
differs: not a repair, goes to manual review) and :class:`StateChanged` (the layer no longer holds what
the plan saw: the write is not made; a later plan decides again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from .. import clients
from ..layers.errors import LayerAuthError, LayerDataError
from ..settings import Settings
from .archive import ContentArchive

T = TypeVar("T")
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL: the role may not write this table
SYNC_CLIENTS = ("db", "db_write", "r2", "r2_write")  # closed with close(); the others with aclose()


class RepairRefused(Exception):
    """The repair is not safe to make (manual review): say why."""


class StateChanged(Exception):
    """The layer changed since the plan: nothing was written."""


def write_refused(exc: BaseException) -> bool:
    """True when a layer refused a write for lack of privilege: the credentials, not the action, are wrong.

    A 401/403 (LayerAuthError) from KV, R2 or Pinata, or PostgreSQL's insufficient_privilege (42501; the
    database client maps it to a LayerDataError whose cause carries the code)."""
    if isinstance(exc, LayerAuthError):
        return True
    origin = getattr(exc.__cause__, "orig", None)
    return isinstance(exc, LayerDataError) and getattr(origin, "pgcode", None) == INSUFFICIENT_PRIVILEGE


class ApplyContext:
    """Clients for one apply session; use as a context manager (closes them all)."""

    def __init__(self, settings: Settings, archive: ContentArchive | None = None) -> None:
        self.settings = settings
        self._owns_archive = archive is None
        self.archive = archive or ContentArchive.from_settings(settings)
        self._runner = asyncio.Runner()
        self._clients: dict[str, Any] = {}

    def __enter__(self) -> ApplyContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def _client(self, name: str, factory) -> Any:
        if name not in self._clients:
            self._clients[name] = factory(self.settings)
        return self._clients[name]

    @property
    def db(self):
        return self._client("db", clients.database_client)

    @property
    def kv(self):
        return self._client("kv", clients.kv_client)

    @property
    def r2(self):
        return self._client("r2", clients.r2_client)

    @property
    def pinata(self):
        return self._client("pinata", clients.pinata_client)

    @property
    def db_write(self):
        return self._client("db_write", clients.database_write_client)

    @property
    def kv_write(self):
        return self._client("kv_write", clients.kv_write_client)

    @property
    def r2_write(self):
        return self._client("r2_write", clients.r2_write_client)

    @property
    def pinata_write(self):
        return self._client("pinata_write", clients.pinata_write_client)

    @property
    def gateways(self):
        return self._client("gateways", clients.gateway_client)

    @property
    def solana(self):
        return self._client("solana", clients.solana_client)

    def gateway_url(self, cid: str) -> str:
        """The ``ipfsGatewayUrl`` seed 004 stores beside ``ipfsHash``: the first configured gateway."""
        return f"{self.settings.ipfs.gateways[0].rstrip('/')}/ipfs/{cid}"

    def close(self) -> None:
        for name, client in self._clients.items():
            try:
                if name in SYNC_CLIENTS:
                    client.close()
                else:
                    self._runner.run(client.aclose())
            except Exception:  # noqa: BLE001 - closing must not hide the session's outcome
                pass
        self._clients.clear()
        if self._owns_archive:
            self.archive.close()
        self._runner.close()
