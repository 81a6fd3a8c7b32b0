"""Metaplex metadata: published mainnet accounts, every rejection with its offset, and properties."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.metaplex import (
    METADATA_ACCOUNT_SIZE,
    METADATA_PROGRAM_ID,
    Collection,
    CollectionDetails,
    Creator,
    Metadata,
    ProgrammableConfig,
    Uses,
    decode_metadata,
    encode_metadata,
    metadata_pda,
)

VECTORS = Path(__file__).parent / "data" / "metaplex"


def vector(name: str) -> tuple[bytes, dict]:
    doc = json.loads((VECTORS / f"{name}.json").read_text())
    return base64.b64decode(doc["data_base64"]), doc["published"]


def key(seed: int) -> str:
    return str(Pubkey(bytes([seed]) * 32))


SIMPLE = Metadata(4, key(1), key(2), "AIW3 Gold #1", "AIW3", "ipfs://bafy", 500, None, False, False)
# byte offsets of the head with creators=None and puffed strings
NAME_LEN, NAME, SYMBOL_LEN, URI_LEN, FEE, CREATORS, PRIMARY_SALE, IS_MUTABLE, NONCE, TAIL = (
    65,
    69,
    101,
    115,
    319,
    321,
    322,
    323,
    324,
    325,
)


# -- published mainnet accounts ----------------------------------------------------------------


def test_gooberg_decodes_to_its_published_fields_and_pda() -> None:
    data, published = vector("gooberg_2235")
    md = decode_metadata(data)
    assert (md.key, md.name) == (published["key"], published["name"]) == (4, "Gooberg #2235")
    assert metadata_pda(md.mint) == published["address"] == "9VHphpWFmUxVHxzWyeYJYYbQADWZ7X6PLzyWER8Lc3k2"
    assert md.symbol == "TGB"
    assert (
        md.uri == "https://nftstorage.link/ipfs/bafybeid3vxffm77zjc2ezlzxlkejusjjpsaiiym2qbhjb2tgetqspwr7kq/2235.json"
    )
    assert (md.token_standard, md.edition_nonce, md.is_mutable) == (4, 255, True)
    assert md.programmable_config == ProgrammableConfig("eBJLFYPxJmMGKuFwpDWkzxZeUrad92kZRC5BJLpzyT9")
    assert encode_metadata(md) == data  # what the program wrote, byte for byte


def test_special_sauce_matches_its_published_onchain_and_offchain_data() -> None:
    data, published = vector("special_sauce")
    md = decode_metadata(data)
    assert md.mint == published["mint"]
    assert (md.name, md.symbol, md.uri) == (published["name"], published["symbol"], published["uri"])
    assert md.seller_fee_basis_points == published["seller_fee_basis_points"] == 1000
    assert [[c.address, c.share] for c in md.creators] == published["creators"]
    assert all(c.verified for c in md.creators)
    assert md.update_authority == "7oUUEdptZnZVhSet4qobU9PtpPfiNUEJ8ftPnrC6YEaa"
    assert (md.token_standard, md.collection.verified) == (0, True)
    assert encode_metadata(md) == data


def test_pnft_with_fee_flag_byte_decodes_to_published_ruleset_and_pda() -> None:
    data, published = vector("pnft_collector_41")
    assert data[METADATA_ACCOUNT_SIZE - 1] == 1  # the program's fee flag in the last byte
    md = decode_metadata(data, strict=True)
    assert md.mint == published["mint"]
    assert metadata_pda(md.mint) == published["address"]
    assert md.token_standard == published["token_standard"] == 4
    assert md.programmable_config == ProgrammableConfig(published["rule_set"])
    assert (md.name, md.symbol) == ("41", "COLLECTOR")


def test_corrupted_pesky_penguin_decodes_as_the_program_does() -> None:
    data, p = vector("pesky_penguins_8060")
    expected = Metadata(
        key=4,
        update_authority=p["update_authority"],
        mint=p["mint"],
        name=p["name"],
        symbol=p["symbol"],
        uri=p["uri"],
        seller_fee_basis_points=p["seller_fee_basis_points"],
        creators=tuple(Creator(*c) for c in p["creators"]),
        primary_sale_happened=True,
        is_mutable=True,
        edition_nonce=255,
    )
    assert decode_metadata(data) == expected  # meta_deser_unchecked drops the corrupted tail
    with pytest.raises(DecodeError, match=r"token_standard: option tag 149 is not 0 or 1 at byte offset 432"):
        decode_metadata(data, strict=True, where="pesky")


# -- the PDA -------------------------------------------------------------------------------------


def test_pda_rejects_bad_mints_naming_them() -> None:
    for bad in ["", "not-base58-0OIl", "1" * 31, str(Pubkey(bytes(32))) + "1"]:
        with pytest.raises(DecodeError) as info:
            metadata_pda(bad)
        assert (info.value.layer, info.value.where) == ("solana", bad)
    assert metadata_pda(key(9)) == metadata_pda(key(9), METADATA_PROGRAM_ID) != metadata_pda(key(9), key(3))


# -- rejections ------------------------------------------------------------------------------------


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


BASE = encode_metadata(SIMPLE)
BAD_ACCOUNTS = {
    "empty": (b"", r"empty account data at byte offset 0"),
    "key only": (b"\x04", r"update_authority: needs 32 bytes, only 0 remain at byte offset 1"),
    "master edition key": (patched(BASE, 0, b"\x06"), r"wrong key byte 6 \(expected 4 = MetadataV1\) at byte offset 0"),
    "lying name length": (
        patched(BASE, NAME_LEN, b"\xff\xff\xff\xff"),
        r"name: length 4294967295 exceeds the 32-byte maximum at byte offset 65",
    ),
    "length past the end": (
        BASE[: NAME + 10],
        r"name: length 32 is longer than the 10 bytes remaining at byte offset 65",
    ),
    "symbol too long": (patched(BASE, SYMBOL_LEN, b"\x0b"), r"symbol: length 11 exceeds the 10-byte maximum"),
    "invalid utf-8": (patched(BASE, NAME + 3, b"\xff"), r"name: invalid UTF-8 at byte offset 72"),
    "bool byte 2": (
        patched(BASE, PRIMARY_SALE, b"\x02"),
        r"primary_sale_happened: bool byte 2 is not 0 or 1 at byte offset 322",
    ),
    "option tag 2": (patched(BASE, CREATORS, b"\x02"), r"creators: option tag 2 is not 0 or 1 at byte offset 321"),
    "nonce tag 7": (patched(BASE, NONCE, b"\x07"), r"edition_nonce: option tag 7 is not 0 or 1 at byte offset 324"),
    "cut inside fee": (BASE[: FEE + 1], r"seller_fee_basis_points: needs 2 bytes, only 1 remain at byte offset 319"),
    "cut before is_mutable": (BASE[:IS_MUTABLE], r"is_mutable: needs 1 bytes, only 0 remain at byte offset 323"),
}


@pytest.mark.parametrize("case", sorted(BAD_ACCOUNTS))
def test_bad_accounts_are_rejected_naming_field_and_offset(case: str) -> None:
    data, message = BAD_ACCOUNTS[case]
    with pytest.raises(DecodeError, match=message) as info:
        decode_metadata(data, where="PDA1")
    assert (info.value.layer, info.value.where) == ("solana", "PDA1")


def test_creator_rules() -> None:
    def with_creators(shares: list[int]) -> bytes:
        creators = tuple(Creator(key(10 + i), True, s) for i, s in enumerate(shares))
        return encode_metadata(replace(SIMPLE, creators=creators))

    assert decode_metadata(with_creators([0, 40, 60])).creators[2] == Creator(key(12), True, 60)
    with pytest.raises(DecodeError, match=r"6 creators, at most 5 allowed at byte offset 322"):
        decode_metadata(with_creators([20, 20, 20, 20, 10, 10]))
    with pytest.raises(DecodeError, match=r"creator shares sum to 99, expected 100 at byte offset 322"):
        decode_metadata(with_creators([50, 49]))
    with pytest.raises(DecodeError, match=r"creators\[0\].verified: bool byte 9 is not 0 or 1 at byte offset 358"):
        decode_metadata(patched(with_creators([100]), 358, b"\x09"))


def test_tail_fields_are_read_only_if_present() -> None:
    head = BASE[:NONCE]
    assert decode_metadata(head, strict=True) == SIMPLE  # an old account: nothing after is_mutable
    assert decode_metadata(BASE, strict=True) == SIMPLE  # zero padding reads as absent
    with_nonce = patched(BASE, NONCE, b"\x01\xfe")
    assert decode_metadata(with_nonce[: NONCE + 2]).edition_nonce == 254


def test_bad_tail_is_dropped_like_the_program_or_rejected_when_strict() -> None:
    full = replace(SIMPLE, token_standard=0, collection=Collection(True, key(7)), uses=Uses(1, 2, 3))
    data = encode_metadata(full)
    bad_standard = patched(data, TAIL, b"\x01\x06")  # TokenStandard has 6 variants
    assert decode_metadata(bad_standard) == SIMPLE  # the whole token_standard/collection/uses group drops
    with pytest.raises(DecodeError, match=r"token_standard: enum tag 6 out of range 0..5 at byte offset 326"):
        decode_metadata(bad_standard, strict=True)
    uses_at = TAIL + 2 + 34
    bad_method = patched(data, uses_at, b"\x01\x03")
    assert decode_metadata(bad_method).collection is None
    with pytest.raises(DecodeError, match=r"uses.use_method: enum tag 3 out of range 0..2"):
        decode_metadata(bad_method, strict=True)
    details_at = uses_at + 18
    bad_details = patched(data, details_at, b"\x01\x02")
    assert decode_metadata(bad_details) == full  # only collection_details is dropped, and it was None
    with pytest.raises(
        DecodeError, match=rf"collection_details: enum tag 2 out of range 0..1 at byte offset {details_at + 1}"
    ):
        decode_metadata(bad_details, strict=True)


def test_encode_refuses_strings_wider_than_their_field() -> None:
    with pytest.raises(ValueError, match="the field holds 32"):
        encode_metadata(replace(SIMPLE, name="x" * 33))
    assert len(encode_metadata(SIMPLE)) == METADATA_ACCOUNT_SIZE


# -- properties ------------------------------------------------------------------------------------

pubkeys = st.binary(min_size=32, max_size=32).map(lambda b: str(Pubkey(b)))
u64 = st.integers(0, 2**64 - 1)


def text(width: int) -> st.SearchStrategy[str]:
    chars = st.characters(codec="utf-8", exclude_characters="\x00")
    return st.text(chars, max_size=width).filter(lambda s: len(s.encode()) <= width)


@st.composite
def creator_lists(draw: st.DrawFn) -> tuple[Creator, ...]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), max_size=4)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return tuple(Creator(draw(pubkeys), draw(st.booleans()), share) for share in shares)


details = st.one_of(
    st.builds(CollectionDetails, version=st.just(1), size=u64),
    st.builds(CollectionDetails, version=st.just(2), padding=st.binary(min_size=8, max_size=8)),
)
metadata = st.builds(
    Metadata,
    key=st.just(4),
    update_authority=pubkeys,
    mint=pubkeys,
    name=text(32),
    symbol=text(10),
    uri=text(200),
    seller_fee_basis_points=st.integers(0, 65535),
    creators=st.none() | creator_lists(),
    primary_sale_happened=st.booleans(),
    is_mutable=st.booleans(),
    edition_nonce=st.none() | st.integers(0, 255),
    token_standard=st.none() | st.integers(0, 5),
    collection=st.none() | st.builds(Collection, st.booleans(), pubkeys),
    uses=st.none() | st.builds(Uses, st.integers(0, 2), u64, u64),
    collection_details=st.none() | details,
    programmable_config=st.none() | st.builds(ProgrammableConfig, st.none() | pubkeys),
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(metadata)
def test_decode_inverts_encode(md: Metadata) -> None:
    data = encode_metadata(md)
    assert decode_metadata(data) == md
    assert decode_metadata(data, strict=True) == md


def decodes_or_rejects(data: bytes) -> None:
    for strict in (False, True):
        try:
            decode_metadata(data, strict=strict)
        except DecodeError as exc:
            assert exc.layer == "solana" and "byte offset" in str(exc)


@FAST
@given(st.binary(max_size=800))
def test_arbitrary_bytes_raise_only_decode_errors(data: bytes) -> None:
    decodes_or_rejects(data)
    decodes_or_rejects(b"\x04" + data)


@FAST
@given(metadata, st.data())
def test_truncated_and_mutated_accounts_raise_only_decode_errors(md: Metadata, data: st.DataObject) -> None:
    account = encode_metadata(md)
    decodes_or_rejects(account[: data.draw(st.integers(0, len(account)))])
    mutated = bytearray(account)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, 420))] = data.draw(st.integers(0, 255))
    decodes_or_rejects(bytes(mutated))
