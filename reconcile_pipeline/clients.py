"""Build each layer's production client from settings. Secrets are revealed here and nowhere else."""

from __future__ import annotations

from .layers.http import RetryPolicy
from .settings import Settings


def retry_policy(settings: Settings) -> RetryPolicy:
    http = settings.http
    return RetryPolicy(
        attempts=http.max_retry_attempts, base_delay_s=http.retry_delay_s, max_delay_s=http.retry_max_delay_s
    )


def solana_client(settings: Settings):
    from .layers.solana import SolanaClient

    sol = settings.solana
    return SolanaClient(
        sol.rpc_url,
        commitment=sol.commitment,
        program_id=sol.metadata_program_id,
        accounts_per_call=sol.accounts_per_call,
        signatures_per_call=sol.signatures_per_call,
        requests_per_window=sol.requests_per_window,
        window_s=sol.window_s,
        timeout_s=settings.http.timeout_s,
        retry=retry_policy(settings),
    )


def gateway_client(settings: Settings):
    from .layers.ipfs import IpfsGatewayClient

    ipfs = settings.ipfs
    return IpfsGatewayClient(
        ipfs.gateways,
        timeout_s=ipfs.timeout_s,
        retry=retry_policy(settings),
        max_bytes=ipfs.max_bytes,
        max_concurrency_per_host=settings.http.max_concurrency_per_host,
    )


def url_policy(settings: Settings):
    from .layers.urlpolicy import UrlPolicy

    ipfs = settings.ipfs
    return UrlPolicy(
        ipfs.gateways,
        ipfs.known_gateway_hosts,
        allowlist=ipfs.url_allowlist,
        allow_private=ipfs.allow_private_addresses,
    )


def pinata_client(settings: Settings):
    from .layers.pinata import PinataClient

    pinata = settings.pinata
    return PinataClient(
        pinata.api_url, pinata.jwt.get_secret_value(), retry=retry_policy(settings), page_limit=pinata.page_limit
    )


def kv_client(settings: Settings):
    from .layers.kv import KVClient

    bs = settings.blockstore
    return KVClient(
        bs.kv_api_url,
        bs.kv_account_id,
        bs.kv_namespace_id,
        bs.kv_api_token.get_secret_value(),
        retry=retry_policy(settings),
        bulk_size=bs.kv_bulk_size,
    )


def r2_client(settings: Settings):
    from .layers.r2 import R2Client

    bs = settings.blockstore
    return R2Client(
        bs.r2_endpoint_url,
        bs.r2_bucket,
        bs.r2_access_key_id.get_secret_value(),
        bs.r2_secret_access_key.get_secret_value(),
        region=bs.r2_region,
        timeout_s=settings.http.timeout_s,
        max_attempts=settings.http.max_retry_attempts,
    )


def database_client(settings: Settings):
    from .layers.database import DatabaseClient

    return DatabaseClient(settings.database.url.get_secret_value())
