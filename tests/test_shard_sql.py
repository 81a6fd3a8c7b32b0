"""A shard's database read filtered by SQL (reconcile_pipeline.layers.shard_sql): the string ranges agree with the
byte placement (pure, hypothesis), and on both backends the shards' reads are exactly the Python placement (every
row in exactly one shard, malformed mints and duplicate groups included) while the database returns only about
1/n of the table."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.pubkey import Pubkey
from sqlalchemy import text

from reconcile_pipeline.db.migrate import migrate
from reconcile_pipeline.layers import database_shards
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.layers.shard_sql import (
    KEY_LENGTHS,
    RANGED_LENGTHS,
    fetches,
    key_values,
    numeral,
    range_bounds,
    within,
)
from reconcile_pipeline.shards import BASE58_ALPHABET, MAX_SHARDS, Shard, all_shards, mint_first_byte, operation_byte

COUNTS = [1 << k for k in range(9)]  # 1, 2, 4, ..., 256
EVERY_SHARD = [shard for count in COUNTS for shard in all_shards(count)]
BAD_CHARS = "0OIl-+/ _:@[`{~é\x7f"
STATUSES = ("COMPLETED", "VERIFIED")


def key(first: int, rest: bytes = b"", zeros: int = 0) -> str:
    """The base58 string of ``zeros`` zero bytes, then ``first``, then ``rest`` (cut or zero-padded to 32 bytes)."""
    raw = (bytes(zeros) + bytes([first]) + rest)[:32]
    return str(Pubkey(raw + bytes(32 - len(raw))))


def digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


# -- the pure part --------------------------------------------------------------------------------------
def test_a_shard_is_a_contiguous_range_of_first_bytes():
    assert Shard(0, 16).first_bytes() == list(range(16)) and Shard(15, 16).first_bytes() == list(range(240, 256))
    assert Shard(1, 2).byte_range() == (128, 256) and Shard(7, 256).byte_range() == (7, 8)
    for count in COUNTS:
        owners = [[s for s in all_shards(count) if s.holds(byte)] for byte in range(256)]
        assert all(len(found) == 1 for found in owners)
        assert [found[0].index for found in owners] == [byte * count // MAX_SHARDS for byte in range(256)]


def test_the_documented_boundaries_are_the_keys_with_a_shards_first_byte():
    for low in range(1, 256):  # X_L of shard `low` of 256 is the smallest key with first byte `low`
        smallest = key(low)
        assert len(smallest) in (43, 44) and range_bounds(Shard(low, 256), len(smallest))[0][0] == smallest
    assert range_bounds(Shard(0, 16), 44) == ((None, key(16)),)  # 2^252: first byte 16
    assert range_bounds(Shard(0, 16), 43) == ((None, None),)  # every 43-char key is below 58^43 < 2^252
    assert range_bounds(Shard(1, 2), 43) == ()  # 43 chars: first byte < 16
    assert range_bounds(Shard(1, 2), 44) == ((key(128), numeral(2**256, 44)),)  # above 2^256: not keys
    assert key_values(32)[0] == (0, 58) and numeral(0, 32) == "1" * 32 == key(0, zeros=31)
    assert all(key_values(length) for length in KEY_LENGTHS)


keys = st.builds(
    key,
    st.sampled_from([0, 1, 255]) | st.integers(0, 255),
    st.binary(min_size=31, max_size=31),
    st.sampled_from([0, 0, 0, 1, 2, 3, 5, 16, 30, 31]),
)


@settings(max_examples=300, deadline=None)
@given(keys)
def test_the_string_ranges_of_a_key_agree_with_its_first_byte(mint):
    first = mint_first_byte(mint)
    assert first is not None and len(mint) in KEY_LENGTHS
    for shard in EVERY_SHARD:
        assert within(mint, range_bounds(shard, len(mint))) == shard.holds(first), shard
        shorter = len(mint) not in RANGED_LENGTHS  # first byte 0 and small: fetched by every shard
        assert fetches(mint, shard) == (shard.holds(first) or shorter), shard  # the gaps hold no key


def _near(value: int) -> list[int]:
    return [v for v in (value - 2, value - 1, value, value + 1) if v >= 0]


BOUNDARY_VALUES = sorted(
    {v for e in range(0, 265, 8) for v in _near(2**e)}
    | {v for e in range(46) for v in _near(58**e)}
    | {v for b in range(0, 257, 15) for v in _near(b << 248)}
)


def _numeral_or_none(value: int, length: int) -> str | None:
    try:
        return numeral(value, length)
    except ValueError:
        return None


def _spoiled(mint: str, at: int, char: str) -> str:
    at %= len(mint)
    return mint[:at] + char + mint[at + 1 :]


def _ones(mint: str, ones: int) -> str:
    """``mint`` with its first ``ones`` characters made '1' (or ``-ones`` '1's appended)."""
    return "1" * ones + mint[ones:] if ones >= 0 else mint + "1" * -ones


texts = st.one_of(
    st.builds(_numeral_or_none, st.sampled_from(BOUNDARY_VALUES), st.integers(30, 46)),
    st.builds(_spoiled, keys, st.integers(0, 43), st.sampled_from(BAD_CHARS + BASE58_ALPHABET)),
    st.builds(
        lambda mint, ones: "1" * ones + mint[ones:] if ones >= 0 else mint + "1" * -ones, keys, st.integers(-2, 3)
    ),
    st.text(alphabet=BASE58_ALPHABET + BAD_CHARS, min_size=0, max_size=46),
    st.text(alphabet="1z2Y", min_size=30, max_size=46),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_every_shard_fetches_what_it_may_hold_and_every_non_key(mint):
    """The predicate is exact: a key of 43 or 44 chars is fetched by its shard only, anything else by every
    shard (keys of 32..42 chars are first byte 0 and rare)."""
    first = mint_first_byte(mint)
    everywhere = first is None or len(mint) not in RANGED_LENGTHS
    for shard in EVERY_SHARD:
        assert fetches(mint, shard) == (everywhere or shard.holds(first)), (mint, shard)


# -- on both databases -------------------------------------------------------------------------------------
def _row(n: int, mint: str | None, **overrides: object) -> dict:
    row = {"id": f"op-{n:05d}", "user_wallet_address": f"wallet{n}", "level": "Gold", "status": "COMPLETED"}
    return row | {"source_image_path": "assets/Gold.png", "mint_address": mint} | overrides


def _tricky_mints(sqlite: bool) -> list[str | None]:
    valid = [key(b, digest(f"v{b}")) for b in range(256)]
    edges = [key(b, rest) for b in (1, 14, 15, 16, 17, 32, 64, 127, 128, 255) for rest in (b"", b"\xff" * 31)]
    edges += [key(b - 1, b"\xff" * 31) for b in (1, 16, 128)]
    short = [key(first, digest(f"z{z}"), zeros=z) for z in (1, 2, 3, 5, 16, 31) for first in (1, 200)]
    short += [key(0, zeros=31), key(0, b"\x01", zeros=30)]
    chars = [chr(c) for c in range(0 if sqlite else 1, 128)] + ["é", "€"]
    spoiled = [_spoiled(valid[(7 * i) % 256], 20, c) for i, c in enumerate(chars) if c not in BASE58_ALPHABET]
    spoiled += [_spoiled(valid[200], 0, c) for c in "IlO0"] + [_spoiled(key(5), 40, "l")]  # a 43-char one
    too_big = [numeral(2**256, 44), "z" * 44, numeral(2**256 + 12345, 44)]
    gaps = ["2" + "1" * 42, numeral(2**248, 44), key(200)[:-1], "1" * 31, "1" * 33, "1" * 44]
    junk = [None, "", "not-a-key", "1234567890"]
    too_long = ["z" * 45, key(3) + "1", "1" + key(200)] if sqlite else []  # VARCHAR(44) holds on PostgreSQL
    return [*valid, *edges, *short, *spoiled, *too_big, *gaps, *junk, *too_long]


def _groups() -> list[dict]:
    """Duplicate groups whose members' own mints sit in different shards (and a member outside the statuses)."""
    twins = [_row(900 + i, key(b, digest(f"t{b}")), user_wallet_address="w-twin") for i, b in enumerate((3, 130, 250))]
    twins.append(_row(903, key(66), user_wallet_address="w-twin", status="PENDING"))  # not in STATUSES
    twins.append(_row(904, key(77), user_wallet_address="w-twin", level="Silver"))  # alone at its level
    broken = [_row(910, "0" * 44, user_wallet_address="w-broken")]  # the anchor: no key, placed by its id
    broken += [_row(911, key(9), user_wallet_address="w-broken", status="VERIFIED")]
    broken += [_row(912, key(201), id="op-9'q", user_wallet_address="w-broken")]  # a quote in an id
    return twins + broken


def _expected_bytes(rows: list[dict]) -> dict[str, int]:
    """The exact placement, computed here from scratch: mint byte, else id hash; groups with their anchor."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["status"] in STATUSES:
            groups[(row["user_wallet_address"], row["level"])].append(row)
    anchors = {k: min(g, key=lambda r: r["id"]) for k, g in groups.items() if len(g) > 1}
    placed = {}
    for row in rows:
        anchor = anchors.get((row["user_wallet_address"], row["level"])) if row["status"] in STATUSES else None
        placing = anchor or row
        placed[row["id"]] = operation_byte(placing["mint_address"], placing["id"])
    return placed


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """The ids of the rows the database returns to Python, per read."""
    fetched: list = []
    real = database_shards._shard_rows

    def counting(chunk, *args):
        fetched[-1].extend(chunk["id"])
        return real(chunk, *args)

    monkeypatch.setattr(database_shards, "_shard_rows", counting)
    yield fetched


def _read(db: DatabaseClient, shard: Shard, spy: list) -> set[str]:
    spy.append([])
    frame = db.read_minting_operations(shard=shard, group_statuses=STATUSES)
    ids = list(frame["id"])
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert str(frame["updated_at"].dtype) == "datetime64[us, UTC]"
    return set(ids)


def _tricky_table(db_url: str) -> list[dict]:
    migrate(db_url)
    rows = [_row(n, mint) for n, mint in enumerate(_tricky_mints(db_url.startswith("sqlite")))] + _groups()
    with DatabaseClient(db_url) as db:
        db.insert_minting_operations(rows)
    return rows


def _assert_exact_shards(db_url: str, rows: list[dict], spy: list, counts=(1, 2, 8, 256)) -> None:
    placed = _expected_bytes(rows)
    members = {r["id"] for r in rows if r["user_wallet_address"] in ("w-twin", "w-broken") and r["status"] in STATUSES}
    members -= {"op-00904"}
    by_id = {r["id"]: r for r in rows}
    with DatabaseClient(db_url, chunk_rows=64) as db:  # many chunks
        for count in counts:
            reads = {shard: _read(db, shard, spy) for shard in all_shards(count)}
            assert sorted(i for ids in reads.values() for i in ids) == sorted(by_id)  # disjoint, union = table
            for (shard, ids), fetched in zip(reads.items(), spy[-count:], strict=True):
                assert ids == {i for i, byte in placed.items() if shard.holds(byte)}, shard
                wanted = {i for i, r in by_id.items() if fetches(r["mint_address"], shard)} | members
                assert set(fetched) == wanted, shard  # the SQL is its Python twin


def test_the_shards_are_exactly_the_python_placement(db_url: str, spy: list) -> None:
    rows = _tricky_table(db_url)
    twins = [r for r in rows if r["user_wallet_address"] == "w-twin" and r["status"] == "COMPLETED"]
    assert len({Shard(0, 2).holds(mint_first_byte(r["mint_address"])) for r in twins}) == 2  # groups span shards
    assert sum(mint_first_byte(r["mint_address"]) is None for r in rows) > 80  # many non-keys
    _assert_exact_shards(db_url, rows, spy)


@pytest.mark.postgres
def test_a_locale_collation_on_the_column_does_not_change_the_shards(pg_db_url: str, spy: list) -> None:
    """en_US (or ICU) orders 'a' < 'B': without COLLATE "C" the string ranges would be wrong."""
    rows = _tricky_table(pg_db_url)
    with DatabaseClient(pg_db_url) as db, db.connect(write=True) as conn:
        names = {"en-x-icu", "en_US.utf8", "en_US", "und-x-icu"}
        found = conn.execute(text("SELECT collname FROM pg_collation WHERE collname = ANY(:n)"), {"n": list(names)})
        collations = sorted(found.scalars())
        if not collations:
            pytest.skip("no locale collation in this PostgreSQL")
        column = f'ALTER TABLE minting_operations ALTER COLUMN {{}} TYPE VARCHAR({{}}) COLLATE "{collations[0]}"'
        conn.execute(text(column.format("mint_address", 44)))
        conn.execute(text(column.format("id", 36)))
        assert conn.execute(text("SELECT 'a' < 'B' COLLATE \"" + collations[0] + '"')).scalar_one()
    _assert_exact_shards(pg_db_url, rows, spy, counts=(8,))


def test_the_database_returns_about_one_shard_of_rows(db_url: str, spy: list) -> None:
    migrate(db_url)
    rows = [_row(n, key(digest(f"k{n}")[0], digest(f"r{n}"))) for n in range(2000)]
    specials = [_row(3000 + n, mint) for n, mint in enumerate([None, "", "0" * 44, "z" * 44, "I" + key(9)[1:]])]
    with DatabaseClient(db_url) as db:
        db.insert_minting_operations(rows + specials)
        for shard in all_shards(8):
            ids = _read(db, shard, spy)
            mine = sum(shard.holds(mint_first_byte(r["mint_address"])) for r in rows)
            assert 2000 / 8 * 0.75 < mine < 2000 / 8 * 1.25
            assert len(spy[-1]) == mine + len(specials)  # the shard's keys and the non-keys: not the table
            assert len(ids) == mine + sum(shard.holds(operation_byte(r["mint_address"], r["id"])) for r in specials)
