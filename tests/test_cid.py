"""CID parsing/printing and IPFS URI recognition: published vectors, strict rejection, properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile_pipeline.layers.cid import (
    CID,
    DAG_PB,
    RAW,
    SHA2_256,
    is_cid,
    parse_cid,
    parse_ipfs_uri,
)
from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.multibase import encode_multibase

HELLO_WORLD_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # "hello world\n", ipfs add
HELLO_WORLD_V0_AS_V1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
HELLO_WORLD_NL_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # "hello world\n", v1
HELLO_WORLD_RAW = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"  # "hello world" (no newline), v1
# Kubo's t0114 gateway fixtures ("hello\n"): v1 raw, v0, v0 as v1, v1 with sha2-512.
HELLO_V1 = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
HELLO_V0 = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"
HELLO_V0_TO_V1 = "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4"
HELLO_V1_SHA512 = (
    "bafkrgqhhyivzstcz3hhswshfjgy6ertgmnqeleynhwt4dlfsthi4hn7zgh4uvlsb5xncykzapi3ocd4lzogukir6ksdy6wzrnz6ohnv4aglcs"
)
PREFIXES = "bBzkKfF"


def test_v0_vector_parses_to_its_multihash_and_converts_to_the_published_v1():
    cid = parse_cid(HELLO_WORLD_V0)
    assert (cid.version, cid.codec, cid.hash_code) == (0, DAG_PB, SHA2_256)
    assert cid.multihash[:2] == b"\x12\x20" and len(cid.digest) == 32
    assert str(cid) == HELLO_WORLD_V0
    assert str(cid.to_v1()) == HELLO_WORLD_V0_AS_V1
    assert cid.to_v1().to_v0() == cid
    assert str(parse_cid(HELLO_V0).to_v1()) == HELLO_V0_TO_V1


def test_raw_v1_vectors_carry_the_sha256_of_the_content():
    assert parse_cid(HELLO_WORLD_RAW).digest == hashlib.sha256(b"hello world").digest()
    assert parse_cid(HELLO_WORLD_NL_RAW).digest == hashlib.sha256(b"hello world\n").digest()
    hello = parse_cid(HELLO_V1)
    assert (hello.version, hello.codec, hello.digest) == (1, RAW, hashlib.sha256(b"hello\n").digest())
    assert hello.encode()[:4] == b"\x01\x55\x12\x20"


def test_sha512_cid_parses_with_a_64_byte_digest():
    cid = parse_cid(HELLO_V1_SHA512)
    assert (cid.codec, cid.hash_code) == (RAW, 0x13)
    assert cid.digest == hashlib.sha512(b"hello\n").digest()
    assert str(cid) == HELLO_V1_SHA512


def test_every_multibase_spelling_names_the_same_cid():
    cid = parse_cid(HELLO_WORLD_RAW)
    texts = {prefix: cid.to_text(prefix) for prefix in PREFIXES}
    assert texts["B"] == HELLO_WORLD_RAW.upper()
    assert texts["f"] == "f01551220" + hashlib.sha256(b"hello world").hexdigest()
    assert texts["z"] == "zb2rhj7crUKTQYRGCRATFaQ6YFLTde2YzdqbbhAASkL9uRDXn"
    assert texts["k"].startswith("k") and texts["K"] == "K" + texts["k"][1:].upper()
    for text in texts.values():
        assert parse_cid(text) == cid and str(parse_cid(text)) == HELLO_WORLD_RAW


def test_binary_round_trip_and_create():
    cid = CID.create(1, RAW, hashlib.sha256(b"x").digest())
    assert CID.from_bytes(cid.encode()) == cid
    v0 = parse_cid(HELLO_WORLD_V0)
    assert v0.encode() == v0.multihash and CID.from_bytes(v0.encode()) == v0


def test_v0_only_for_dag_pb_sha256():
    with pytest.raises(DecodeError):
        parse_cid(HELLO_WORLD_RAW).to_v0()
    with pytest.raises(DecodeError):
        parse_cid(HELLO_V1_SHA512).to_v0()
    with pytest.raises(DecodeError):
        CID.create(0, RAW, bytes(32))
    with pytest.raises(DecodeError):
        CID.create(2, DAG_PB, bytes(32))


_V1_BYTES = parse_cid(HELLO_WORLD_RAW).encode()
_V0_MULTIHASH = parse_cid(HELLO_WORLD_V0).multihash
BAD_CIDS = {
    "empty": "",
    "too long": "b" + "a" * 200,
    "v0 bad character 0": "Qm" + "0" * 44,
    "v0 with l": HELLO_WORLD_V0[:-1] + "l",
    "v0 too short": HELLO_WORLD_V0[:-1],
    "v0 too long": HELLO_WORLD_V0 + "1",
    "v0 wrong multihash": "Qm" + "1" * 44,
    "space": " " + HELLO_WORLD_RAW,
    "newline": HELLO_WORLD_RAW + "\n",
    "mixed case base32": HELLO_WORLD_RAW[:10] + HELLO_WORLD_RAW[10:].upper(),
    "base32 bad char": HELLO_WORLD_RAW[:-1] + "1",
    "base32 truncated": HELLO_WORLD_RAW[:-1],
    "base32 padding": HELLO_WORLD_RAW + "=",
    "unknown prefix": "m" + HELLO_WORLD_RAW[1:],
    "prefix only": "b",
    "trailing byte": encode_multibase("b", _V1_BYTES + b"\x00"),
    "short digest": encode_multibase("b", b"\x01\x55\x12\x1f" + bytes(31)),
    "declared longer": encode_multibase("b", b"\x01\x55\x12\x21" + bytes(32)),
    "v0 multihash in multibase": encode_multibase("z", _V0_MULTIHASH),
    "version 2": encode_multibase("b", b"\x02" + _V1_BYTES[1:]),
    "version 0 varint": encode_multibase("b", b"\x00" + _V1_BYTES[1:]),
    "non-minimal varint": encode_multibase("b", b"\x81\x00" + _V1_BYTES[1:]),
    "hex with space": "f0155 1220" + "00" * 32,
    "hex odd": "f01551220" + "00" * 31 + "0",
    "non-ascii": "bafy\u00e9" + "a" * 50,
    "surrogate": "b\ud800",
    "url": "https://ipfs.io/ipfs/" + HELLO_WORLD_V0,
}


@pytest.mark.parametrize("text", BAD_CIDS.values(), ids=BAD_CIDS.keys())
def test_malformed_cids_raise_decode_error_naming_layer_and_text(text):
    with pytest.raises(DecodeError) as info:
        parse_cid(text)
    assert info.value.layer == "ipfs" and info.value.where == text[:80]
    assert not is_cid(text)


def test_valid_but_overlong_cid_text_is_refused():
    long_cid = CID.create(1, RAW, bytes(150), hash_code=0x00)  # identity multihash: any length
    assert CID.from_bytes(long_cid.encode()) == long_cid and len(str(long_cid)) > 200
    with pytest.raises(DecodeError, match="longer than 200"):
        parse_cid(str(long_cid))


def test_non_text_and_bad_bytes_raise_decode_error():
    with pytest.raises(DecodeError):
        parse_cid(b"Qm")  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        CID.from_bytes(_V1_BYTES + b"\x00")


@st.composite
def cids(draw) -> CID:
    version = draw(st.sampled_from([0, 1]))
    if version == 0:
        return CID.create(0, DAG_PB, draw(st.binary(min_size=32, max_size=32)))
    codec = draw(st.sampled_from([DAG_PB, RAW, 0x71, 0x0129]) | st.integers(0, 2**40))
    hash_code, size = draw(st.sampled_from([(SHA2_256, 32), (0x13, 64), (0x00, None), (0x1E, None)]))
    digest = draw(st.binary(min_size=size or 0, max_size=size or 40))
    return CID.create(1, codec, digest, hash_code)


@settings(max_examples=200)
@given(cids(), st.sampled_from(PREFIXES))
def test_text_round_trip_in_every_base(cid, prefix):
    text = cid.to_text(prefix)
    assert parse_cid(text) == cid
    assert str(parse_cid(str(cid))) == str(cid)
    assert CID.from_bytes(cid.encode()) == cid
    assert str(cid).startswith("Qm" if cid.version == 0 else "b")


@given(st.binary(min_size=32, max_size=32))
def test_v0_v1_conversion_round_trips(digest):
    v0 = CID.create(0, DAG_PB, digest)
    v1 = v0.to_v1()
    assert str(v1).startswith("bafybei") and v1.multihash == v0.multihash
    assert v1.to_v0() == v0 and parse_cid(str(v1)).to_v0() == v0


_CID_CHARS = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0lIO=/ :%\x00\u00e9"


def _with_cid_prefix(body: str) -> str:
    return ("Qm" + body)[:46] if len(body) % 3 == 0 else "bBzkKfFm"[len(body) % 8] + body


@settings(max_examples=500)
@given(st.text(max_size=220) | st.text(alphabet=_CID_CHARS, max_size=80).map(_with_cid_prefix))
def test_parse_cid_raises_only_decode_error(text):
    try:
        cid = parse_cid(text)
    except DecodeError:
        return
    assert is_cid(str(cid))


@settings(max_examples=300)
@given(cids(), st.sampled_from(PREFIXES), st.integers(0, 200), st.text(max_size=3))
def test_mutated_cid_texts_raise_only_decode_error(cid, prefix, position, insert):
    text = cid.to_text(prefix)
    position %= len(text) + 1
    for mutated in (text[:position] + insert + text[position + 1 :], text[:position], text + insert):
        try:
            assert parse_cid(mutated).to_text(prefix) == mutated or mutated[0] != prefix
        except DecodeError:
            pass


@given(st.binary(max_size=80))
def test_from_bytes_raises_only_decode_error(data):
    try:
        assert CID.from_bytes(data).encode() == data
    except DecodeError:
        pass


# -- IPFS URIs ----------------------------------------------------------------------------------

V0 = parse_cid(HELLO_WORLD_V0)
V1 = parse_cid(HELLO_WORLD_RAW)
URI_FORMS = {
    "ipfs scheme": (f"ipfs://{HELLO_WORLD_V0}", V0, ""),
    "ipfs scheme path": (f"ipfs://{HELLO_WORLD_V0}/meta/1.json", V0, "/meta/1.json"),
    "ipfs scheme upper": (f"IPFS://{HELLO_WORLD_RAW}/x", V1, "/x"),
    "legacy ipfs://ipfs/": (f"ipfs://ipfs/{HELLO_WORLD_V0}/a", V0, "/a"),
    "ipfs scheme query": (f"ipfs://{HELLO_WORLD_RAW}?filename=a.png#f", V1, ""),
    "path form": (f"/ipfs/{HELLO_WORLD_RAW}", V1, ""),
    "path form path": (f"/ipfs/{HELLO_WORLD_RAW}/a//b/./c/", V1, "/a/b/c"),
    "bare v0": (HELLO_WORLD_V0, V0, ""),
    "bare v1": (HELLO_WORLD_RAW, V1, ""),
    "bare v1 base58": (V1.to_text("z"), V1, ""),
    "bare with path": (f"{HELLO_WORLD_V0}/1.json", V0, "/1.json"),
    "path gateway": (f"https://gateway.pinata.cloud/ipfs/{HELLO_WORLD_V0}", V0, ""),
    "path gateway port query": (f"http://127.0.0.1:8080/ipfs/{HELLO_WORLD_RAW}/a.json?x=1#y", V1, "/a.json"),
    "path gateway encoded": (f"https://ipfs.io/ipfs/{HELLO_WORLD_V0}/a%20b/%41.png", V0, "/a%20b/A.png"),
    "path gateway slash in segment": (f"https://ipfs.io/ipfs/{HELLO_WORLD_V0}/a%2Fb", V0, "/a%2Fb"),
    "path gateway unicode": (f"https://ipfs.io/ipfs/{HELLO_WORLD_V0}/\u00e9", V0, "/%C3%A9"),
    "subdomain gateway": (f"https://{HELLO_WORLD_RAW}.ipfs.dweb.link/m/1.json?download=1", V1, "/m/1.json"),
    "subdomain gateway base36": (f"https://{V1.to_text('k')}.ipfs.w3s.link/", V1, ""),
    "subdomain gateway upper host": (f"https://{HELLO_WORLD_RAW.upper()}.IPFS.dweb.link", V1, ""),
    "subdomain gateway mixed case": (f"https://{HELLO_WORLD_RAW.capitalize()}.ipfs.dweb.link", V1, ""),
}


@pytest.mark.parametrize("uri, cid, path", URI_FORMS.values(), ids=URI_FORMS.keys())
def test_ipfs_uri_forms(uri, cid, path):
    assert parse_ipfs_uri(uri) == (cid, path)


NOT_IPFS = [
    "https://example.com/x.json",
    "https://example.com/ipfs",
    "https://docs.ipfs.tech/concepts/",
    "https://ipfs.io/ipns/docs.ipfs.tech",
    "ar://abc",
    "data:application/json,{}",
    "images/1.png",
    "/ipns/example.com",
    "",
    "hello",
    "ftp://host/ipfs/" + HELLO_WORLD_V0,
]


@pytest.mark.parametrize("uri", NOT_IPFS)
def test_other_uris_are_not_ipfs(uri):
    assert parse_ipfs_uri(uri) is None


BAD_IPFS = [
    "ipfs://",
    "ipfs://notacid",
    f"ipfs://{HELLO_WORLD_V0[:-1]}",
    "/ipfs/Qm123",
    "https://ipfs.io/ipfs/",
    "https://ipfs.io/ipfs/notacid/x.json",
    "https://bafybeigarbage.ipfs.dweb.link/",
    HELLO_WORLD_V0[:-1],
    f"ipfs://{HELLO_WORLD_V0}/../etc/passwd",
    f"ipfs://{HELLO_WORLD_V0}/a/%2e%2E/b",
    f"https://ipfs.io/ipfs/{HELLO_WORLD_V0}/a%00b",
    f"ipfs://{HELLO_WORLD_V0}/%ff",
    "https://[::1/ipfs/x",
]


@pytest.mark.parametrize("uri", BAD_IPFS)
def test_malformed_ipfs_references_raise_decode_error(uri):
    with pytest.raises(DecodeError) as info:
        parse_ipfs_uri(uri)
    assert info.value.layer == "ipfs" and info.value.where == uri[:80]


_SEGMENTS = st.lists(st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=8).filter(lambda s: s not in (".", "..")))


@settings(max_examples=200)
@given(cids(), _SEGMENTS, st.sampled_from(["", "?a=1", "#frag", "?x=y#z"]), st.sampled_from(range(6)))
def test_ipfs_uri_forms_property(cid, segments, suffix, form):
    path = "".join("/" + segment for segment in segments)
    text = str(cid)
    uri = [
        f"ipfs://{text}{path}{suffix}",
        f"ipfs://ipfs/{text}{path}{suffix}",
        f"/ipfs/{text}{path}{suffix}",
        f"https://gw.example.org/ipfs/{text}{path}{suffix}",
        f"http://127.0.0.1:8080/ipfs/{text}{path}/{suffix}",
        f"https://{cid.to_v1().to_text('k') if cid.version else text}.ipfs.dweb.link{path}{suffix}",
    ][form]
    if form == 5 and cid.version == 0:
        uri = f"https://{text}.ipfs.dweb.link{path}{suffix}"  # case kept from the text
    assert parse_ipfs_uri(uri) == (cid, path)


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_parse_ipfs_uri_raises_only_decode_error(uri):
    try:
        result = parse_ipfs_uri(uri)
    except DecodeError:
        return
    assert result is None or result[1] == "" or result[1].startswith("/")
