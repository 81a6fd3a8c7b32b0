"""Metaplex Token Metadata accounts: the PDA, and a Borsh decoder/encoder for the ``Metadata`` account.

The layout is the program's (mpl-token-metadata ``state/metadata.rs``; accounts are allocated at
``MAX_METADATA_LEN`` = 679 bytes and zero-padded; the last byte may carry a fee flag)::

    key u8 (4 = MetadataV1) | update_authority [32] | mint [32]
    | Data { name, symbol, uri: Borsh strings (u32 LE length + UTF-8, NUL-padded to 32/10/200 bytes),
             seller_fee_basis_points u16, creators Option<Vec<Creator{address [32], verified bool, share u8}>> }
    | primary_sale_happened bool | is_mutable bool | edition_nonce Option<u8>
    | token_standard Option<u8 enum 0..5> | collection Option<{verified bool, key [32]}>
    | uses Option<{use_method u8 enum 0..2, remaining u64, total u64}>
    | collection_details Option<enum V1{size u64} | V2{padding [u8;8]}>
    | programmable_config Option<enum V1{rule_set Option<[32]>}>

Everything up to ``edition_nonce`` is decoded strictly: any defect raises :class:`DecodeError` naming
the field and byte offset. The fields after it were added in later program versions; each is read only
if bytes remain, and zero padding reads as "absent". By default a corrupted tail is handled exactly as
the program's ``meta_deser_unchecked`` does (a bad token_standard/collection/uses group drops all
three; a bad collection_details or programmable_config drops that field), so an account the program
and wallets accept is never reported invalid here. ``strict=True`` rejects any tail defect instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from .borsh import BorshReader, BorshWriter, pubkey_bytes
from .errors import DecodeError

METADATA_PROGRAM_ID = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
METADATA_KEY_V1 = 4
MAX_NAME_LENGTH, MAX_SYMBOL_LENGTH, MAX_URI_LENGTH = 32, 10, 200
MAX_CREATOR_LIMIT = 5
METADATA_ACCOUNT_SIZE = 679  # MAX_METADATA_LEN: what the program allocates
UPDATE_AUTHORITY_OFFSET = 1  # for getProgramAccounts memcmp filters
MINT_OFFSET = 33
TOKEN_STANDARDS = 6  # NonFungible, FungibleAsset, Fungible, NonFungibleEdition, ProgrammableNonFungible(+Edition)
USE_METHODS = 3  # Burn, Multiple, Single


@dataclass(frozen=True)
class Creator:
    address: str
    verified: bool
    share: int


@dataclass(frozen=True)
class Collection:
    verified: bool
    key: str


@dataclass(frozen=True)
class Uses:
    use_method: int
    remaining: int
    total: int


@dataclass(frozen=True)
class CollectionDetails:
    """``V1 {size}`` (version 1, ``size`` set) or ``V2 {padding}`` (version 2, 8 ``padding`` bytes)."""

    version: int
    size: int | None = None
    padding: bytes | None = None


@dataclass(frozen=True)
class ProgrammableConfig:
    """``ProgrammableConfig::V1 {rule_set}``, the only variant."""

    rule_set: str | None = None


@dataclass(frozen=True)
class Metadata:
    key: int
    update_authority: str
    mint: str
    name: str
    symbol: str
    uri: str
    seller_fee_basis_points: int
    creators: tuple[Creator, ...] | None
    primary_sale_happened: bool
    is_mutable: bool
    edition_nonce: int | None = None
    token_standard: int | None = None
    collection: Collection | None = None
    uses: Uses | None = None
    collection_details: CollectionDetails | None = None
    programmable_config: ProgrammableConfig | None = None


def metadata_pda(mint: str, program_id: str = METADATA_PROGRAM_ID) -> str:
    """The metadata account address of ``mint``: seeds ``["metadata", program, mint]``."""
    try:
        program = Pubkey.from_string(program_id)
        mint_key = Pubkey.from_string(mint)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"not a base58 32-byte public key ({exc})", layer="solana", where=str(mint)) from None
    address, _bump = Pubkey.find_program_address([b"metadata", bytes(program), bytes(mint_key)], program)
    return str(address)


# -- decoding ----------------------------------------------------------------------------------


def decode_metadata(data: bytes, *, where: str = "", strict: bool = False) -> Metadata:
    """Decode a Metadata account's raw data; raise :class:`DecodeError` (and nothing else) if it is bad."""
    reader = BorshReader(bytes(data), where=where)
    if not reader.data:
        raise reader.error("empty account data", 0)
    key = reader.u8("key")
    if key != METADATA_KEY_V1:
        raise reader.error(f"wrong key byte {key} (expected {METADATA_KEY_V1} = MetadataV1)", 0)
    head = dict(
        key=key,
        update_authority=reader.pubkey("update_authority"),
        mint=reader.pubkey("mint"),
        name=reader.string("name", MAX_NAME_LENGTH),
        symbol=reader.string("symbol", MAX_SYMBOL_LENGTH),
        uri=reader.string("uri", MAX_URI_LENGTH),
        seller_fee_basis_points=reader.u16("seller_fee_basis_points"),
        creators=_read_creators(reader),
        primary_sale_happened=reader.bool("primary_sale_happened"),
        is_mutable=reader.bool("is_mutable"),
        edition_nonce=reader.option("edition_nonce", lambda: reader.u8("edition_nonce")) if reader.remaining else None,
    )
    return Metadata(**head, **_read_tail(reader, strict))


def _read_creators(reader: BorshReader) -> tuple[Creator, ...] | None:
    def creators() -> tuple[Creator, ...]:
        start = reader.pos
        count = reader.u32("creators length")
        if count > MAX_CREATOR_LIMIT:
            raise reader.error(f"{count} creators, at most {MAX_CREATOR_LIMIT} allowed", start)
        found = tuple(_read_creator(reader, i) for i in range(count))
        total = sum(c.share for c in found)
        if total != 100:
            raise reader.error(f"creator shares sum to {total}, expected 100", start)
        return found

    return reader.option("creators", creators)


def _read_creator(reader: BorshReader, index: int) -> Creator:
    return Creator(
        address=reader.pubkey(f"creators[{index}].address"),
        verified=reader.bool(f"creators[{index}].verified"),
        share=reader.u8(f"creators[{index}].share"),
    )


def _read_tail(reader: BorshReader, strict: bool) -> dict:
    group = [reader.trailing(read(reader), strict=strict) for read in (_token_standard, _collection, _uses)]
    token_standard, collection, uses = (value for _, value in group) if all(ok for ok, _ in group) else (None,) * 3
    return dict(
        token_standard=token_standard,
        collection=collection,
        uses=uses,
        collection_details=reader.trailing(_collection_details(reader), strict=strict)[1],
        programmable_config=reader.trailing(_programmable_config(reader), strict=strict)[1],
    )


def _token_standard(reader: BorshReader):
    return lambda: reader.option("token_standard", lambda: reader.enum_tag("token_standard", TOKEN_STANDARDS))


def _collection(reader: BorshReader):
    def one() -> Collection:
        return Collection(verified=reader.bool("collection.verified"), key=reader.pubkey("collection.key"))

    return lambda: reader.option("collection", one)


def _uses(reader: BorshReader):
    def one() -> Uses:
        method = reader.enum_tag("uses.use_method", USE_METHODS)
        return Uses(use_method=method, remaining=reader.u64("uses.remaining"), total=reader.u64("uses.total"))

    return lambda: reader.option("uses", one)


def _collection_details(reader: BorshReader):
    def one() -> CollectionDetails:
        if reader.enum_tag("collection_details", 2) == 0:
            return CollectionDetails(version=1, size=reader.u64("collection_details.size"))
        return CollectionDetails(version=2, padding=reader.take(8, "collection_details.padding"))

    return lambda: reader.option("collection_details", one)


def _programmable_config(reader: BorshReader):
    def one() -> ProgrammableConfig:
        reader.enum_tag("programmable_config", 1)
        rule_set = reader.option("programmable_config.rule_set", lambda: reader.pubkey("rule_set"))
        return ProgrammableConfig(rule_set=rule_set)

    return lambda: reader.option("programmable_config", one)


# -- encoding ----------------------------------------------------------------------------------


def encode_metadata(md: Metadata) -> bytes:
    """The bytes the program writes for ``md``: puffed strings, Borsh, zero-padded to 679 bytes."""
    w = BorshWriter()
    w.u8(md.key)
    w.raw(pubkey_bytes(md.update_authority))
    w.raw(pubkey_bytes(md.mint))
    w.puffed_string(md.name, MAX_NAME_LENGTH)
    w.puffed_string(md.symbol, MAX_SYMBOL_LENGTH)
    w.puffed_string(md.uri, MAX_URI_LENGTH)
    w.u16(md.seller_fee_basis_points)
    w.option(md.creators, lambda cs: _write_creators(w, cs))
    w.bool(md.primary_sale_happened)
    w.bool(md.is_mutable)
    w.option(md.edition_nonce, w.u8)
    w.option(md.token_standard, w.u8)
    w.option(md.collection, lambda c: (w.bool(c.verified), w.raw(pubkey_bytes(c.key))))
    w.option(md.uses, lambda u: (w.u8(u.use_method), w.u64(u.remaining), w.u64(u.total)))
    w.option(md.collection_details, lambda d: _write_collection_details(w, d))
    w.option(md.programmable_config, lambda p: (w.u8(0), w.option(p.rule_set, lambda k: w.raw(pubkey_bytes(k)))))
    return w.padded(METADATA_ACCOUNT_SIZE)


def _write_creators(w: BorshWriter, creators: tuple[Creator, ...]) -> None:
    w.u32(len(creators))
    for creator in creators:
        w.raw(pubkey_bytes(creator.address))
        w.bool(creator.verified)
        w.u8(creator.share)


def _write_collection_details(w: BorshWriter, details: CollectionDetails) -> None:
    if details.version == 1:
        w.u8(0)
        w.u64(details.size or 0)
    else:
        w.u8(1)
        w.raw((details.padding or bytes(8)).ljust(8, b"\x00")[:8])
