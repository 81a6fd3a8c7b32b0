"""Load a built :class:`WorldData` into the running servers, files and database."""

from __future__ import annotations

from pathlib import Path

from ..layers.metaplex import METADATA_PROGRAM_ID, Creator, Metadata, encode_metadata, metadata_pda
from .httpfaults import Response
from .ipfs import guess_content_type
from .nft_world import SYMBOL, db_row
from .servers import WorldServers
from .worlddata import NftRecord, WorldData

SELLER_FEE_BASIS_POINTS = 500
NON_FUNGIBLE = 0  # Token Metadata TokenStandard::NonFungible


def load_files(world: WorldData, assets_dir: Path, backup_dir: Path) -> None:
    assets_dir.mkdir(parents=True, exist_ok=True)
    backup_dir.mkdir(parents=True, exist_ok=True)
    for level, image in world.source_files.items():
        path = assets_dir / f"{level}.png"
        if image is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(image)
    for level, image in world.backup_files.items():
        (backup_dir / f"{level}.png").write_bytes(image)


def load_ipfs(world: WorldData, servers: WorldServers) -> None:
    for cid, data in world.content.items():
        servers.store.put(cid, data)
    for cid, name in world.pins.items():
        servers.store.pin(cid, name=name)
    for index, gateway in enumerate(servers.gateways):
        gateway.missing.update(world.gateway_missing.get(index, set()))
        gateway.wrong_bytes.update(world.gateway_wrong.get(index, set()))
        for cid, other in world.gateway_other.get(index, {}).items():  # raw or not, the whole other file
            gateway.serve(cid, Response(200, other, {"Content-Type": guess_content_type(other)}))


def account_data(nft: NftRecord) -> bytes:
    metadata = Metadata(
        key=4,
        update_authority=nft.update_authority,
        mint=nft.mint,
        name=nft.name,
        symbol=SYMBOL,
        uri=nft.uri,
        seller_fee_basis_points=SELLER_FEE_BASIS_POINTS,
        creators=(Creator(address=nft.update_authority, verified=True, share=100),),
        primary_sale_happened=False,
        is_mutable=nft.is_mutable,
        edition_nonce=255,
        token_standard=NON_FUNGIBLE,
    )
    return encode_metadata(metadata)


def load_chain(world: WorldData, ledger: object) -> None:
    for slot, nft in enumerate(sorted(world.nfts, key=lambda n: n.index), start=1_000):
        if nft.on_chain:
            ledger.set_account(metadata_pda(nft.mint), account_data(nft), owner=METADATA_PROGRAM_ID)
        ledger.add_signature(nft.signature, slot=slot, err=nft.tx_err)


def load_database(world: WorldData, db_url: str) -> None:
    from ..db.migrate import migrate
    from ..layers.database import DatabaseClient

    migrate(db_url)
    rows = [db_row(nft, world) for nft in world.nfts if nft.in_db] + world.extra_ops
    with DatabaseClient(db_url) as client:
        client.insert_minting_operations(rows)
        client.upsert_registry(world.registry)


def load_kv(world: WorldData, kv_server: object) -> None:
    for key, value in world.kv.items():
        kv_server.set(key, value)


def load_r2(world: WorldData, s3_server: object, bucket: str) -> None:
    import boto3

    from .s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    client = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name="us-east-1",
    )
    for key, value in world.r2.items():
        client.put_object(Bucket=bucket, Key=key, Body=value)
