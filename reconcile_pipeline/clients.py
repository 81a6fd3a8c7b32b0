"""Build each layer's production client from settings. Secrets are revealed here and nowhere else.

The ``*_client`` builders use the read credentials (snapshots, recording, the ledger); the ``*_write_client``
builders use the repairs' write credentials (``[repairs]`` database_url, kv_write_token,
r2_write_access_key_id/r2_write_secret_access_key, pinata_write_jwt), each falling back to its read
credential when unset. :func:`separate_write_credentials` says, per layer, whether the two differ.
"""

from __future__ import annotations

from pydantic import SecretStr

from .layers.http import RetryPolicy
from .settings import Settings, SettingsError

R2_ENDPOINT_HINT = "R2's S3 endpoint, https://ACCOUNT_ID.r2.cloudflarestorage.com"


def _either(write: SecretStr, read: SecretStr) -> str:
    """The write credential, or the read one when the write credential is unset."""
    return write.get_secret_value() or read.get_secret_value()


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
        policy=url_policy(settings),  # redirects are judged by the configured allowlist
        control_cids=ipfs.control_cids,
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


def _pinata(settings: Settings, jwt: str):
    from .layers.pinata import PinataClient

    return PinataClient(
        settings.pinata.api_url,
        jwt,
        retry=retry_policy(settings),
        page_limit=settings.pinata.page_limit,
        timeout_s=settings.http.timeout_s,
    )


def pinata_client(settings: Settings):
    return _pinata(settings, settings.pinata.jwt.get_secret_value())


def pinata_write_client(settings: Settings):
    """Pinata with ``[repairs] pinata_write_jwt`` (else ``[pinata] jwt``): the re-pins."""
    return _pinata(settings, _either(settings.repairs.pinata_write_jwt, settings.pinata.jwt))


def _kv(settings: Settings, token: str):
    from .layers.kv import KVClient

    bs = settings.blockstore
    return KVClient(
        bs.kv_api_url,
        bs.kv_account_id,
        bs.kv_namespace_id,
        token,
        retry=retry_policy(settings),
        bulk_size=bs.kv_bulk_size,
        timeout_s=settings.http.timeout_s,
    )


def kv_client(settings: Settings):
    return _kv(settings, settings.blockstore.kv_api_token.get_secret_value())


def kv_write_client(settings: Settings):
    """KV with ``[repairs] kv_write_token`` (else ``[blockstore] kv_api_token``): the KV repairs."""
    return _kv(settings, _either(settings.repairs.kv_write_token, settings.blockstore.kv_api_token))


def _r2(settings: Settings, access_key_id: str, secret_access_key: str):
    from .layers.r2 import R2Client

    bs = settings.blockstore
    if not bs.r2_endpoint_url:  # boto3 would only say "Invalid endpoint: "
        raise SettingsError(f"bad settings: [blockstore] r2_endpoint_url: not set ({R2_ENDPOINT_HINT})")
    return R2Client(
        bs.r2_endpoint_url,
        bs.r2_bucket,
        access_key_id,
        secret_access_key,
        region=bs.r2_region,
        timeout_s=settings.http.timeout_s,
        max_attempts=settings.http.max_retry_attempts,
    )


def r2_client(settings: Settings):
    bs = settings.blockstore
    return _r2(settings, bs.r2_access_key_id.get_secret_value(), bs.r2_secret_access_key.get_secret_value())


def r2_write_client(settings: Settings):
    """R2 with the ``[repairs] r2_write_*`` pair (else the ``[blockstore] r2_*`` pair): the R2 repairs."""
    repairs, bs = settings.repairs, settings.blockstore
    key_id, secret = (
        repairs.r2_write_access_key_id.get_secret_value(),
        repairs.r2_write_secret_access_key.get_secret_value(),
    )
    if bool(key_id) != bool(secret):
        raise ValueError("[repairs] set both r2_write_access_key_id and r2_write_secret_access_key, or neither")
    if not key_id:
        key_id, secret = bs.r2_access_key_id.get_secret_value(), bs.r2_secret_access_key.get_secret_value()
    return _r2(settings, key_id, secret)


def database_client(settings: Settings):
    from .layers.database import DatabaseClient

    return DatabaseClient(settings.database.url.get_secret_value())


def database_write_client(settings: Settings):
    """The database as ``[repairs] database_url`` (else ``[database] url``): the DB repairs' writes."""
    from .layers.database import DatabaseClient

    return DatabaseClient(_either(settings.repairs.database_url, settings.database.url))


def _credential_pairs(settings: Settings) -> dict[str, tuple[SecretStr, SecretStr]]:
    """Per writable layer: (the repairs' write credential, the read credential it falls back to)."""
    repairs, bs = settings.repairs, settings.blockstore
    return {
        "database": (repairs.database_url, settings.database.url),
        "kv": (repairs.kv_write_token, bs.kv_api_token),
        "r2": (repairs.r2_write_access_key_id, bs.r2_access_key_id),
        "pinata": (repairs.pinata_write_jwt, settings.pinata.jwt),
    }


def separate_write_credentials(settings: Settings) -> dict[str, bool]:
    """Per writable layer: True when repairs write it with a credential other than the snapshots' read one."""
    return {
        layer: _either(write, read) != read.get_secret_value()
        for layer, (write, read) in _credential_pairs(settings).items()
    }
