"""Start and stop the local world's servers as one unit."""

from __future__ import annotations

import secrets

from .ipfs import ContentStore, GatewayServer
from .kv import KVServer
from .ledger import Ledger
from .pinata import PinataServer
from .s3 import S3Server
from .solana_rpc import SolanaRpcServer

KV_ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
KV_NAMESPACE_ID = "fedcba9876543210fedcba9876543210"


class WorldServers:
    """IPFS gateways + Pinata over one content store, Solana RPC over a ledger, KV, S3 (moto)."""

    def __init__(
        self, gateways: int = 3, host: str = "127.0.0.1", *, absent: str = "504", raw_mode: str = "block"
    ) -> None:
        self.host = host
        self.pinata_jwt = "local-" + secrets.token_hex(16)
        self.kv_token = "local-" + secrets.token_hex(16)
        self.r2_bucket = "vdc-" + secrets.token_hex(4)  # moto's state is per process: one bucket per world
        self.store = ContentStore()
        self.gateways = [
            GatewayServer(self.store, name=f"gw{i}", host=host, raw_mode=raw_mode, absent=absent)
            for i in range(gateways)
        ]
        self.pinata = PinataServer(self.store, jwt=self.pinata_jwt, host=host)
        self.ledger = Ledger()
        self.solana = SolanaRpcServer(self.ledger, host=host)
        self.kv = KVServer(account_id=KV_ACCOUNT_ID, namespace_id=KV_NAMESPACE_ID, token=self.kv_token, host=host)
        self.s3 = S3Server(host=host)
        self._started: list = []

    def start(self) -> WorldServers:
        for server in [*self.gateways, self.pinata, self.solana, self.kv, self.s3]:
            server.start()
            self._started.append(server)
        self.s3.create_bucket(self.r2_bucket)
        return self

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def all(self) -> dict[str, object]:
        named = {gateway.name: gateway for gateway in self.gateways}
        return named | {"pinata": self.pinata, "solana": self.solana, "kv": self.kv, "s3": self.s3}

    def endpoints(self) -> dict[str, str]:
        return {name: server.url for name, server in self.all().items()}

    def blockstore_settings(self) -> dict:
        from .s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY

        return {
            "kv_api_url": f"{self.kv.url}/client/v4",
            "kv_account_id": KV_ACCOUNT_ID,
            "kv_namespace_id": KV_NAMESPACE_ID,
            "kv_api_token": self.kv_token,
            "r2_endpoint_url": self.s3.url,
            "r2_bucket": self.r2_bucket,
            "r2_region": "us-east-1",
            "r2_access_key_id": ACCESS_KEY_ID,
            "r2_secret_access_key": SECRET_ACCESS_KEY,
        }
