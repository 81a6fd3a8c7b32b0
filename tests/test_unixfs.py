"""UnixFS / ``ipfs add`` CIDs: Kubo vectors, DAG structure, balanced layout, streaming and verification."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile_pipeline.layers.cid import CID, DAG_PB, RAW, parse_cid
from reconcile_pipeline.layers.errors import DecodeError, IntegrityError
from reconcile_pipeline.layers.unixfs import (
    CHUNK_SIZE,
    MAX_LINKS,
    StreamVerifier,
    UnixfsBuilder,
    _dag_pb_node,
    _Link,
    _unixfs_file,
    cid_matches,
    raw_cid,
    unixfs_cid,
    verify_bytes,
)

EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


def pattern(size: int) -> bytes:
    """bytes(i % 251 for i in range(size)), fast."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


@functools.lru_cache(maxsize=1)
def two_level_content() -> bytes:
    return pattern(MAX_LINKS * CHUNK_SIZE + 1)  # ~45 MB, built once


def lcg_megabyte() -> bytes:
    """1,000,000 bytes from a 64-bit LCG (the high byte of each state), as in a published Kubo vector."""
    out = bytearray(1_000_000)
    state = 1
    for i in range(len(out)):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out[i] = state >> 56
    return bytes(out)


# `ipfs_cid FILE` (Debian ipfs-cid, Kubo-correct CIDv0) on pattern(size).
PATTERN_V0 = {
    0: EMPTY_V0,
    1: "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
    262143: "QmRfm83kqBpGJbGxJg1en9hpwq8eNnP4E2Dj8K73F4m983",
    262144: "QmeqfRyS3vkku7n6krqC3DgGMex3x2sCpSeKMDmrG13QQq",
    262145: "QmUSjGawaz4ptvREcMKSMJneWCa5j8dAz2wSAAvHtW2rnB",
    3 * 262144 + 5: "QmYMHCc2cJx17KoAerHGZveEQPLBdN4FEWC6TU4c2iJYU3",
}
PATTERN_V0_FULL_LEVEL = "QmXCym15aFeWjAWyPFaAgwVmkuKB7EBsV77Skt54KmxChF"  # 174 * 262144 bytes
PATTERN_V0_TWO_LEVEL = "QmTedsTekQQkgACJXb1sPZSW8bLdS9LPMrT7L4YdjNRd4n"  # 174 * 262144 + 1 bytes

# Published `ipfs add` results for zero-filled files: v0 (go-ipfs benchmark lists) and
# v1 (Kubo v0.42.0 `ipfs add --cid-version=1`, raw leaves).
ZEROS_V0 = {
    1024: "QmQXesoMt2KWTxnVcGwxqwThSNzBy2gsXr1DANTJtLjc1k",
    10240: "QmcqBd6EuU4BiBJkArSFLbNHnM8tbC9vu9a4AbqTq4gHAL",
    102400: "QmVFxmvDaBBGBFUMPLSRL9mb4N6Xm8xEYnCuy5m85gPAaP",
    1048576: "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU",
    10485760: "QmaJ6kN9fW3TKpVkpf1NuW7cjhHjNp5Jwr3cQuHzsoZWkJ",
}
ZEROS_V1 = {
    0: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    1: "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu",
    262143: "bafkreic6iqyxuiad5dem4bzgyy336yoi6tegdqa4e5vt24gq3btool5cra",
    262144: "bafkreiekhhjkxu4ztk3tyng3er3ijhg56mb44oe3gwbgquhzu4afrg2ksa",
    262145: "bafybeigllfqgfpqydppr6cmv56g7ax4wyhruzswvcefv6j5kj77nzttfki",
    1048576: "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla",
    5 * 1024 * 1024: "bafybeid7mu43g4fehkxhdkl4x3lu4pybxuxpg57it6r6z7e36soj7h2yd4",
}
LCG_MEGABYTE_V1 = "bafybeiczwqoyribvfkrxcuhcjnwva43kuvcrl2h57ergkeszwguynobh5a"


@pytest.mark.parametrize("size, expected", PATTERN_V0.items(), ids=[str(size) for size in PATTERN_V0])
def test_pattern_vectors_from_ipfs_cid(size, expected):
    assert str(unixfs_cid(pattern(size))) == expected


def test_two_level_tree_vectors():
    data = two_level_content()
    assert str(unixfs_cid(memoryview(data)[:-1])) == PATTERN_V0_FULL_LEVEL
    assert str(unixfs_cid(data)) == PATTERN_V0_TWO_LEVEL
    assert cid_matches(PATTERN_V0_TWO_LEVEL, data)


@pytest.mark.parametrize("size, expected", ZEROS_V0.items(), ids=[str(size) for size in ZEROS_V0])
def test_published_zero_file_vectors_v0(size, expected):
    assert str(unixfs_cid(bytes(size))) == expected


@pytest.mark.parametrize("size, expected", ZEROS_V1.items(), ids=[str(size) for size in ZEROS_V1])
def test_published_zero_file_vectors_v1_raw_leaves(size, expected):
    assert str(unixfs_cid(bytes(size), cid_version=1)) == expected
    assert cid_matches(expected, bytes(size))


def test_published_pseudo_random_megabyte_v1():
    data = lcg_megabyte()
    assert str(unixfs_cid(data, cid_version=1)) == LCG_MEGABYTE_V1
    assert cid_matches(LCG_MEGABYTE_V1, data) and not cid_matches(LCG_MEGABYTE_V1, data[:-1])


SMALL_TEXT_VECTORS = [  # (content, cid_version, CID) as Kubo's `ipfs add` gives them
    (b"hello world\n", 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    (b"hello world\n", 1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
    (b"hello world", 0, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
    (b"hello world", 1, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
    (b"hello\n", 0, "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"),
    (b"hello\n", 1, "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"),
]


@pytest.mark.parametrize("content, cid_version, expected", SMALL_TEXT_VECTORS)
def test_small_text_vectors(content, cid_version, expected):
    assert str(unixfs_cid(content, cid_version=cid_version)) == expected
    assert cid_matches(expected, content)
    if cid_version == 1:
        assert raw_cid(content) == parse_cid(expected)


def test_empty_file_in_each_mode():
    assert str(unixfs_cid(b"")) == EMPTY_V0
    assert unixfs_cid(b"", cid_version=1, raw_leaves=False) == parse_cid(EMPTY_V0).to_v1()
    assert unixfs_cid(b"", cid_version=1) == raw_cid(b"")


def test_single_chunk_dag_pb_leaf_v1_is_the_v0_node_as_v1():
    for data in (b"x", pattern(CHUNK_SIZE)):
        assert unixfs_cid(data, cid_version=1, raw_leaves=False) == unixfs_cid(data).to_v1()


def test_random_files_agree_with_ipfs_cid(tmp_path):
    if shutil.which("ipfs_cid") is None:
        if os.environ.get("RECONCILE_TEST_REQUIRE_IPFS_CID") == "1":
            pytest.fail("Debian's ipfs-cid is required (RECONCILE_TEST_REQUIRE_IPFS_CID=1) but not installed")
        pytest.skip("Debian ipfs-cid not installed")
    rng = random.Random(20240611)
    sizes = [rng.randrange(0, 300), rng.randrange(CHUNK_SIZE - 50, CHUNK_SIZE + 50)]
    sizes += [rng.randrange(CHUNK_SIZE, 6 * CHUNK_SIZE) for _ in range(4)]
    for index, size in enumerate(sizes):
        data = rng.randbytes(size)
        path = tmp_path / f"f{index}"
        path.write_bytes(data)
        output = subprocess.run(["ipfs_cid", str(path)], capture_output=True, text=True, check=True).stdout
        expected = json.loads(output)
        mine = unixfs_cid(data)
        assert (str(mine), str(mine.to_v1())) == (expected["CIDv0"], expected["CIDv1"]), size


# -- DAG structure: decode the emitted blocks and walk them -------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _protobuf_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        if key & 7 == 0:
            value, pos = _varint(data, pos)
        else:
            assert key & 7 == 2
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        fields.append((key >> 3, value))
    return fields


def _walk(cid: CID, blocks: dict[CID, bytes], stats: dict) -> tuple[bytes, int]:
    """(content, total serialized size) of the sub-DAG at `cid`, checking every invariant on the way."""
    block = blocks[cid]
    assert hashlib.sha256(block).digest() == cid.digest
    if cid.codec == RAW:
        stats["raw_leaves"] += 1
        return block, len(block)
    fields = _protobuf_fields(block)
    links = [dict(_protobuf_fields(value)) for number, value in fields if number == 2]
    assert [number for number, _ in fields] == [2] * len(links) + [1]  # Links before Data
    unixfs = _protobuf_fields(fields[-1][1])
    assert unixfs[0] == (1, 2)  # Type = File
    filesize = dict(unixfs)[3]
    blocksizes = [value for number, value in unixfs if number == 4]
    if not links:
        stats["pb_leaves"] += 1
        data = dict(unixfs).get(2, b"")
        assert filesize == len(data) and not blocksizes
        return data, len(block)
    stats["depth"] = max(stats["depth"], stats.setdefault("level", 0) + 1)
    content, total = b"", len(block)
    for link, blocksize in zip(links, blocksizes, strict=True):
        assert link[2] == b""  # Name present and empty
        child = CID.from_bytes(link[1])
        stats["level"] += 1
        child_content, child_total = _walk(child, blocks, stats)
        stats["level"] -= 1
        assert link[3] == child_total and blocksize == len(child_content)
        content, total = content + child_content, total + child_total
    assert filesize == len(content) and len(links) <= stats["max_links"]
    return content, total


def _build_and_walk(data: bytes, **options) -> dict:
    blocks: dict[CID, bytes] = {}
    builder = UnixfsBuilder(**options, on_block=lambda cid, block: blocks.__setitem__(cid, block))
    builder.update(data)
    root = builder.finish()
    stats = {"raw_leaves": 0, "pb_leaves": 0, "depth": 0, "max_links": builder.max_links, "root": root}
    content, _ = _walk(root, blocks, stats)
    assert content == data
    return stats


def test_v1_multi_chunk_structure_round_trip():
    stats = _build_and_walk(lcg_megabyte(), cid_version=1)
    assert (stats["root"].version, stats["root"].codec) == (1, DAG_PB)
    assert str(stats["root"]).startswith("bafybei")
    assert (stats["raw_leaves"], stats["pb_leaves"], stats["depth"]) == (4, 0, 1)


@pytest.mark.parametrize("cid_version, raw_leaves", [(0, False), (0, True), (1, True), (1, False)])
def test_deep_tree_structure_round_trip(cid_version, raw_leaves):
    data = pattern(3 * 3 * 3 * 10 + 7)
    stats = _build_and_walk(data, cid_version=cid_version, raw_leaves=raw_leaves, chunk_size=10, max_links=3)
    assert stats["depth"] == 4 and stats["root"].version == cid_version
    assert (stats["raw_leaves"] if raw_leaves else stats["pb_leaves"]) == 28


# -- the balanced layout, transcribed from go-unixfs importer/balanced, as a reference ----------


def _reference_balanced(data: bytes, chunk_size: int, max_links: int, cid_version: int, raw_leaves: bool) -> CID:
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    builder = UnixfsBuilder(cid_version, raw_leaves, chunk_size, max_links=max_links)  # for node encoding only

    def leaf() -> _Link:
        return builder._leaf(chunks.pop(0))

    def node(children: list[_Link]) -> _Link:
        return builder._parent(children)

    def fill(children: list[_Link], depth: int) -> _Link:
        while len(children) < max_links and chunks:
            children.append(leaf() if depth == 1 else fill([], depth - 1))
        return node(children)

    if not chunks:
        return builder._empty_file()
    root = leaf()
    depth = 1
    while chunks:
        root = fill([root], depth)
        depth += 1
    return root.cid


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 90), st.sampled_from([2, 3, 4]), st.booleans(), st.sampled_from([0, 1]))
def test_streaming_layout_equals_reference_balanced_layout(size, max_links, raw_leaves, cid_version):
    data = pattern(size)
    expected = _reference_balanced(data, 1, max_links, cid_version, raw_leaves)
    builder = UnixfsBuilder(cid_version, raw_leaves, 1, max_links=max_links)
    builder.update(data)
    assert builder.finish() == expected


def test_node_encoding_of_the_empty_file():
    assert _dag_pb_node([], _unixfs_file(None, 0, [])) == bytes.fromhex("0a0408021800")


# -- streaming ----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=3000),
    st.lists(st.integers(0, 3000), max_size=12),
    st.sampled_from([1, 7, 64, 256]),
    st.sampled_from([2, 3, MAX_LINKS]),
    st.sampled_from([(0, None), (1, None), (0, True), (1, False)]),
)
def test_streaming_equals_one_shot_for_any_split(data, cuts, chunk_size, max_links, mode):
    cid_version, raw_leaves = mode
    one_shot = UnixfsBuilder(cid_version, raw_leaves, chunk_size, max_links=max_links)
    one_shot.update(data)
    streamed = UnixfsBuilder(cid_version, raw_leaves, chunk_size, max_links=max_links)
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        streamed.update(data[start:end])
        assert len(streamed._buffer) < chunk_size  # memory: at most one chunk buffered
    assert streamed.finish() == one_shot.finish()
    assert streamed.size == len(data) and streamed.sha256 == hashlib.sha256(data).hexdigest()


def test_builder_misuse_and_idempotent_finish():
    builder = UnixfsBuilder()
    builder.update(b"abc")
    assert builder.finish() == builder.finish() == unixfs_cid(b"abc")
    with pytest.raises(RuntimeError):
        builder.update(b"more")
    with pytest.raises(ValueError):
        UnixfsBuilder(cid_version=2)
    with pytest.raises(ValueError):
        UnixfsBuilder(chunk_size=0)
    assert UnixfsBuilder(cid_version=1).raw_leaves and not UnixfsBuilder().raw_leaves


# -- verification -------------------------------------------------------------------------------

MODES = [
    lambda data: unixfs_cid(data),
    lambda data: unixfs_cid(data, cid_version=1),
    lambda data: unixfs_cid(data, cid_version=1, raw_leaves=False),
    lambda data: unixfs_cid(data, raw_leaves=True),
    raw_cid,
]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=2000), st.integers(0, 10**6), st.integers(1, 255), st.sampled_from(MODES))
def test_cid_matches_own_cid_and_not_after_flipping_a_byte(data, position, flip, mode):
    cid = mode(data)
    assert cid_matches(cid, data) and cid_matches(str(cid), data)
    position %= len(data)
    tampered = data[:position] + bytes([data[position] ^ flip]) + data[position + 1 :]
    assert not cid_matches(cid, tampered)
    assert not cid_matches(cid, data + b"\0") and not cid_matches(cid, data[:-1])


@pytest.mark.parametrize("mode", MODES[:4], ids=["v0", "v1", "v1-pb-leaves", "v0-raw-leaves"])
def test_multi_chunk_tampering_is_detected_everywhere(mode):
    data = pattern(3 * CHUNK_SIZE + 5)
    cid = mode(data)
    assert cid.codec == DAG_PB and cid_matches(cid, data)
    for position in (0, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 17, len(data) - 1):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        assert not cid_matches(cid, bytes(tampered)), position
    assert not cid_matches(cid, data[:-1]) and not cid_matches(cid, data + b"\0")


def test_a_cid_version_is_only_a_spelling_of_the_same_dag():
    data = pattern(2 * CHUNK_SIZE + 1)
    v0_dag, v1_dag = unixfs_cid(data), unixfs_cid(data, cid_version=1)
    assert v0_dag.to_v1() != v1_dag
    assert cid_matches(v0_dag.to_v1(), data)  # a Qm root as a subdomain gateway spells it
    assert cid_matches(v1_dag.to_v0(), data)
    assert not cid_matches(v0_dag.to_v1(), data[1:])


def test_non_sha256_and_foreign_codecs_never_match():
    sha512 = parse_cid(
        "bafkrgqhhyivzstcz3hhswshfjgy6ertgmnqeleynhwt4dlfsthi4hn7zgh4uvlsb5xncykzapi3ocd4lzogukir6ksdy6wzrnz6ohnv4aglcs"
    )
    assert sha512.digest == hashlib.sha512(b"hello\n").digest() and not cid_matches(sha512, b"hello\n")
    identity = CID.create(1, RAW, b"hello\n", hash_code=0x00)
    assert not cid_matches(identity, b"hello\n")
    dag_cbor = CID.create(1, 0x71, hashlib.sha256(b"hello\n").digest())
    assert not cid_matches(dag_cbor, b"hello\n")


def test_a_dag_pb_cid_of_the_raw_bytes_does_not_match():
    # the multihash equals the raw CID's, but a dag-pb CID names a node, not these bytes
    data = b"hello world\n"
    assert not cid_matches(CID(1, DAG_PB, raw_cid(data).multihash), data)


def test_verify_bytes_raises_integrity_error_naming_the_cid():
    cid = unixfs_cid(b"hello world\n")
    verify_bytes(cid, b"hello world\n")
    verify_bytes(str(cid), b"hello world\n")
    with pytest.raises(IntegrityError) as info:
        verify_bytes(cid, b"hello world!")
    assert (info.value.layer, info.value.where, info.value.kind) == ("ipfs", str(cid), "integrity")
    with pytest.raises(DecodeError):
        verify_bytes("not-a-cid", b"")


@pytest.mark.parametrize("mode", MODES, ids=["v0", "v1", "v1-pb-leaves", "v0-raw-leaves", "raw"])
def test_stream_verifier_over_download_pieces(mode):
    data = pattern(2 * CHUNK_SIZE + 999)
    cid = mode(data)
    good, bad = StreamVerifier(str(cid)), StreamVerifier(cid)
    for start in range(0, len(data), 65536 + 7):
        piece = data[start : start + 65536 + 7]
        good.update(piece)
        bad.update(piece if start else b"X" + piece[1:])
    assert good.finish() and not bad.finish()
    assert good.size == len(data)
