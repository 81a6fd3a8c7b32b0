"""Serve a built world on loopback: every layer behind its real protocol.

``LocalWorld(spec, directory).start()`` builds the world, starts the servers (IPFS gateways,
Pinata API, Solana JSON-RPC, Cloudflare KV API, S3 through moto), loads each layer's data
through its own protocol or state, and exposes :meth:`settings_document` (the pipeline's
settings, written as TOML by :meth:`write_config`) and :meth:`manifest`. :meth:`stop` stops
everything it started. The pipeline is never told it is talking to the local world: it gets
ordinary endpoints; only ``ipfs.allow_private_addresses`` is set, explicitly, because the
gateways live on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

from .build import build_world, manifest
from .loaders import load_chain, load_database, load_files, load_ipfs, load_kv, load_r2
from .servers import WorldServers
from .toml import toml_dumps
from .worlddata import WorldData, WorldSpec


class LocalWorld:
    def __init__(self, spec: WorldSpec, directory: str | Path, *, db_url: str | None = None) -> None:
        self.spec = spec
        self.directory = Path(directory).resolve()
        self.db_url = db_url or f"sqlite:///{self.directory / 'world.db'}"
        self.data: WorldData | None = None
        self.servers: WorldServers | None = None

    def start(self) -> LocalWorld:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data = build_world(self.spec)
        spec = self.spec
        self.servers = WorldServers(spec.gateways, absent=spec.gateway_absent, raw_mode=spec.gateway_raw).start()
        try:
            self._load()
        except BaseException:
            self.stop()
            raise
        return self

    def _load(self) -> None:
        data, servers = self.data, self.servers
        load_files(data, self.assets_dir, self.backup_dir)
        load_ipfs(data, servers)
        load_chain(data, servers.ledger)
        load_database(data, self.db_url)
        load_kv(data, servers.kv)
        load_r2(data, servers.s3, servers.r2_bucket)

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.stop()
            self.servers = None

    def __enter__(self) -> LocalWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def assets_dir(self) -> Path:
        return self.directory / "assets" / "images"

    @property
    def backup_dir(self) -> Path:
        return self.directory / "backup" / "assets" / "images"

    def settings_document(self) -> dict:
        """The pipeline's settings for this world (plain data, TOML-ready)."""
        assert self.data is not None and self.servers is not None, "start() the world first"
        servers, spec = self.servers, self.spec
        return {
            "data_dir": str(self.directory / "data"),
            "source_images": {
                "assets_dir": str(self.assets_dir),
                "backup_dir": str(self.backup_dir),
                "supported_levels": self.data.levels,
            },
            "http": {"timeout_s": 5.0, "max_retry_attempts": 2, "retry_delay_s": 0.1, "retry_max_delay_s": 1.0},
            "solana": {"rpc_url": servers.solana.url, "update_authority": self.data.authority},
            "ipfs": {
                "gateways": [gateway.url for gateway in servers.gateways],
                "min_gateways": spec.min_gateways,
                "allow_private_addresses": True,
                "timeout_s": 5.0,
                "archive_dir": str(self.directory / "data" / "content-archive"),
                "control_cids": self.control_cids(),
            },
            "pinata": {"api_url": servers.pinata.url, "jwt": servers.pinata_jwt},
            "database": {"url": self.db_url},
            "blockstore": servers.blockstore_settings() | {"pending_backlog_max": spec.backlog_max},
            "reconciliation": {"stuck_pending_after_s": spec.stuck_after_s},
        }

    def control_cids(self) -> list[str]:
        """The level images' CIDs: content every gateway of the world serves (the operator's control CIDs)."""
        assert self.data is not None
        return sorted({row["ipfs_hash"] for row in self.data.registry if row.get("ipfs_hash")})

    def write_config(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(toml_dumps(self.settings_document()))
        return path

    def manifest(self) -> dict:
        assert self.data is not None and self.servers is not None
        return manifest(self.data, self.servers.endpoints())

    def write_manifest(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.manifest(), indent=2, default=str))
        return path
