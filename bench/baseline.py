"""The sequential baseline: what the seeds' reconciliation code does, one awaited request per record.

Seed 000's ``reconcileIPFSDatabase`` / ``reconcileBlockchainDatabase`` loop over the database rows and,
for each, ``await`` one request after the other: the mint's account (``getAccountInfo``), its
transaction status (``getSignatureStatuses`` with one signature), ``fetch(metadataUri)``, then
``fetch(metadata.image)``. Seed 004's verify-all reads each block from KV, R2 and IPFS in turn.
Here the same, on the same local servers, with plain clients (httpx, solana-py's AsyncClient, boto3):
no batching, no concurrency, no verification beyond "it answered". Run on a sample of records and
extrapolated linearly (each record costs the same: one round trip per request, in sequence).
"""

from __future__ import annotations

import asyncio
import time

import boto3
import botocore.config
import httpx
from solana.rpc.async_api import AsyncClient
from solders.pubkey import Pubkey
from solders.signature import Signature

from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.layers.metaplex import metadata_pda
from reconcile_pipeline.settings import Settings, load_settings


def gateway_url(uri: str, gateway: str) -> str:
    """``ipfs://CID`` or ``https://any-gateway/ipfs/CID`` on our first gateway (as the seeds' fetch would)."""
    if uri.startswith("ipfs://"):
        return f"{gateway}/ipfs/{uri[len('ipfs://') :]}"
    return f"{gateway}/ipfs/{uri.split('/ipfs/', 1)[1]}"


async def check_nft(row: dict, rpc: AsyncClient, http: httpx.AsyncClient, gateway: str) -> int:
    """One NFT, as seed 000 does it: four awaited requests in a row. Returns the bytes read."""
    await rpc.get_account_info(Pubkey.from_string(metadata_pda(row["mint_address"])), encoding="base64")
    await rpc.get_signature_statuses([Signature.from_string(row["transaction_signature"])], True)
    metadata = await http.get(gateway_url(row["metadata_uri"], gateway))
    image = await http.get(gateway_url(metadata.json()["image"], gateway))
    return len(metadata.content) + len(image.content)


def _r2(settings: Settings):
    bs = settings.blockstore
    return boto3.client(
        "s3",
        endpoint_url=bs.r2_endpoint_url,
        aws_access_key_id=bs.r2_access_key_id.get_secret_value(),
        aws_secret_access_key=bs.r2_secret_access_key.get_secret_value(),
        region_name=bs.r2_region,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


async def check_block(number: int, settings: Settings, http: httpx.AsyncClient, r2, gateway: str) -> int:
    """One block, as seed 004's verify does it: KV, then R2, then IPFS by the KV copy's ipfsHash."""
    bs = settings.blockstore
    base = f"{bs.kv_api_url}/accounts/{bs.kv_account_id}/storage/kv/namespaces/{bs.kv_namespace_id}"
    headers = {"Authorization": f"Bearer {bs.kv_api_token.get_secret_value()}"}
    kv = await http.get(f"{base}/values/{fmt.block_key(number)}", headers=headers)
    r2_bytes = r2.get_object(Bucket=bs.r2_bucket, Key=fmt.r2_block_key(number))["Body"].read()
    ipfs = await http.get(f"{gateway}/ipfs/{kv.json()['ipfsHash']}")
    return len(kv.content) + len(r2_bytes) + len(ipfs.content)


async def _run(settings: Settings, nfts: int, blocks: int) -> dict:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        rows = db.read_minting_operations().head(nfts).to_dict("records")  # seed 000: one query for the rows
    gateway = settings.ipfs.gateways[0]
    r2 = _r2(settings)
    moved = 0
    async with httpx.AsyncClient(timeout=30) as http, AsyncClient(settings.solana.rpc_url, timeout=30) as rpc:
        started = time.perf_counter()
        for row in rows:
            moved += await check_nft(row, rpc, http, gateway)
        nft_s = time.perf_counter() - started
        started = time.perf_counter()
        for number in range(blocks):
            moved += await check_block(number, settings, http, r2, gateway)
        block_s = time.perf_counter() - started
    return {"nft_sample": len(rows), "block_sample": blocks, "nft_s": nft_s, "block_s": block_s, "bytes": moved}


def measure(config: str, nfts: int, blocks: int, world_nfts: int, world_blocks: int) -> dict:
    """Run the baseline on ``nfts`` + ``blocks`` records; extrapolate to the whole world."""
    result = asyncio.run(_run(load_settings(config), nfts, blocks))
    per_nft = result["nft_s"] / max(result["nft_sample"], 1)
    per_block = result["block_s"] / max(result["block_sample"], 1)
    return result | {
        "per_nft_s": round(per_nft, 4),
        "per_block_s": round(per_block, 4),
        "wall_s": round(result["nft_s"] + result["block_s"], 2),
        "extrapolated_wall_s": round(per_nft * world_nfts + per_block * world_blocks, 1),
        "extrapolated_to": {"nfts": world_nfts, "blocks": world_blocks},
    }
