"""Hostile inputs, layer by layer, against the real local servers: each refused with a clear error, memory bounded.

- URLs from chain or IPFS data aimed at private, loopback, link-local, IPv4-mapped addresses or other
  schemes, and gateway redirects to them: refused, and an "attacker" server on 127.0.0.2 (neither a
  configured gateway nor allowlisted) counts zero requests, also with ``allow_private`` (the world's);
- bodies that are huge (declared or endless) or gzip bombs: ResponseTooLarge, with a tracemalloc
  peak close to the byte cap; an unknown Content-Encoding is refused;
- JSON bombs, deep nesting, invalid UTF-8, lone surrogates, NaN, giant integers: DecodeError from
  :func:`reconcile_pipeline.jsonsafe.loads_bounded`, and from the API clients (Pinata, KV) that use it;
- decompression-bomb PNGs and files named .png that are no PNG: invalid source images;
- level names with path separators: refused by the settings, the scanner and the restore;
- Borsh account data with lying lengths, cut at every offset or with every header byte flipped:
  DecodeError naming the field and offset, and nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import io
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from reconcile_pipeline.jsonsafe import loads_bounded
from reconcile_pipeline.layers.blocks import parse_block
from reconcile_pipeline.layers.errors import DecodeError, UrlRefused
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.ipfs import IpfsGatewayClient
from reconcile_pipeline.layers.kv import KVClient
from reconcile_pipeline.layers.metaplex import Creator, Metadata, decode_metadata, encode_metadata
from reconcile_pipeline.layers.pinata import PinataClient
from reconcile_pipeline.layers.source_images import restore_from_backup, scan_source_images, validate_level_name
from reconcile_pipeline.layers.urlpolicy import UrlPolicy
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response
from reconcile_pipeline.sandbox.ipfs import ContentStore, GatewayServer
from reconcile_pipeline.settings import SettingsError, load_settings

ONCE = RetryPolicy(attempts=1)
CAP = 4 * 1024 * 1024


class Attacker(LoopbackServer):
    name = "attacker"

    def route(self, request: Request) -> Response:
        return Response(200, b"secret internal data")


class Hostile(LoopbackServer):
    """An API that answers every request with ``self.answer``."""

    answer = Response(200, b"{}")

    def route(self, request: Request) -> Response:
        return self.answer


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    with Attacker(host="127.0.0.2") as server:
        yield server


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[ContentStore, GatewayServer, GatewayServer]]:
    store = ContentStore()
    with GatewayServer(store, "gw0") as gw0, GatewayServer(store, "gw1") as gw1:
        yield store, gw0, gw1


def fetch(gateway_urls: list[str], cid: str, *, allow_private: bool = False, max_bytes: int = CAP):
    policy = UrlPolicy(gateway_urls, allow_private=allow_private)

    async def go():
        async with IpfsGatewayClient(gateway_urls, timeout_s=2, retry=ONCE, max_bytes=max_bytes, policy=policy) as c:
            return await c.fetch(cid)

    return asyncio.run(go())


# -- URLs ------------------------------------------------------------------------------------------------
def hostile_urls(attacker: str) -> list[str]:
    port = attacker.rsplit(":", 1)[1]
    return [
        f"{attacker}/x.json",  # loopback, not a configured gateway
        f"http://127.2:{port}/x.json",  # the same in a legacy spelling
        f"http://[::ffff:127.0.0.2]:{port}/x.json",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:2]:{port}/x.json",
        "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
        "http://[fe80::1]/x",
        "http://10.0.0.7/x.json",
        "http://192.168.1.1/x.json",
        f"http://localhost:{port}/x.json",
        f"http://user:s3cr3tpw@127.0.0.2:{port}/x.json",
        "file:///etc/passwd",
        "data:application/json,{}",
        f"gopher://127.0.0.2:{port}/x",
        f"ftp://127.0.0.2:{port}/x",
        "javascript:alert(1)",
    ]


@pytest.mark.parametrize("allow_private", [False, True], ids=["production", "local world"])
def test_hostile_urls_are_refused_and_never_fetched(attacker: Attacker, gateways, allow_private: bool) -> None:
    _, gw0, _ = gateways
    policy = UrlPolicy([gw0.url], ["gateway.pinata.cloud"], allow_private=allow_private)
    attacker.reset_counters()
    for url in hostile_urls(attacker.url):
        with pytest.raises(UrlRefused) as caught:
            policy.candidates(url)
        assert caught.value.layer == "ipfs" and "s3cr3tpw" not in str(caught.value), url
    assert sum(attacker.requests.values()) == 0


def test_a_gateway_url_on_a_hostile_host_is_read_from_the_configured_gateways(attacker: Attacker, gateways) -> None:
    store, gw0, _ = gateways
    cid = store.add(b'{"name": "fine"}')
    _, _, urls = UrlPolicy([gw0.url], allow_private=True).candidates(f"{attacker.url}/ipfs/{cid}")
    assert urls == [f"{gw0.url}/ipfs/{cid}"]
    attacker.reset_counters()
    assert fetch([gw0.url], cid, allow_private=True).status == "ok"
    assert sum(attacker.requests.values()) == 0


@pytest.mark.parametrize("allow_private", [False, True], ids=["production", "local world"])
def test_redirects_to_hostile_places_are_refused(attacker: Attacker, gateways, allow_private: bool) -> None:
    store, gw0, gw1 = gateways
    attacker.reset_counters()
    for target in [u for u in hostile_urls(attacker.url) if u.startswith("http")]:
        cid = store.add(target.encode())
        gw0.serve(cid, Response(302, b"", {"Location": target}))
        read = fetch([gw0.url], cid, allow_private=allow_private)
        assert read.status == "unavailable" and "redirect refused" in read.error, (target, read.error)
    assert sum(attacker.requests.values()) == 0
    cid = store.add(b"moved")  # control: a redirect to another configured gateway is followed
    gw0.serve(cid, Response(302, b"", {"Location": f"{gw1.url}/ipfs/{cid}"}))
    assert fetch([gw0.url, gw1.url], cid).status == "ok"


# -- bodies ----------------------------------------------------------------------------------------------
def _endless() -> Iterator[bytes]:
    while True:
        yield b"A" * 65536


@functools.cache
def gzip_bomb(mib: int = 256) -> bytes:
    """``mib`` MiB of zeros, gzipped (about 1000:1), built without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(mib)) + packer.flush()


BODIES = {
    "declared 1 TB": lambda: Response(200, headers={"Content-Length": str(10**12)}, stream=_endless()),
    "endless chunked": lambda: Response(200, stream=_endless()),
    "gzip bomb (256 MiB of zeros)": lambda: Response(200, gzip_bomb(), {"Content-Encoding": "gzip"}),
}


@pytest.mark.parametrize("body", list(BODIES))
def test_huge_bodies_stop_at_the_cap_with_bounded_memory(gateways, body: str) -> None:
    store, gw0, _ = gateways
    cid = store.add(body.encode())
    gw0.serve(cid, BODIES[body])
    tracemalloc.start()
    try:
        read = fetch([gw0.url], cid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gw0.serve(cid, None)
    assert read.status == "invalid" and read.gateways[0].status == "too_large"
    assert read.gateways[0].error_kind == "too_large" and f"{CAP}" in read.error
    assert peak < 2.5 * CAP, f"peak {peak / 1e6:.1f} MB for a {CAP / 1e6:.1f} MB cap"


def test_an_unknown_content_encoding_is_refused(gateways) -> None:
    store, gw0, _ = gateways
    cid = store.add(b"brotli?")
    gw0.serve(cid, Response(200, b"\x1b\x00\x00", {"Content-Encoding": "br"}))
    read = fetch([gw0.url], cid)
    assert read.status == "unavailable" and "unsupported Content-Encoding 'br'" in read.error


def test_a_gzipped_object_within_the_cap_is_read_and_verified(gateways) -> None:
    store, gw0, _ = gateways
    data = b'{"name": "compressible"}' * 1000
    cid = store.add(data)
    gw0.serve(cid, Response(200, gzip.compress(data), {"Content-Encoding": "gzip"}))
    read = fetch([gw0.url], cid)
    gw0.serve(cid, None)
    assert read.status == "ok" and read.verified and read.content == data


# -- JSON ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64 levels"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nests deeper than 64 levels"),
        (b'{"name": "\xff\xfe"}', "not valid UTF-8 (bad byte at offset 10)"),
        (b'{"name": "\\ud800"}', "lone surrogate"),
        (b'{"image": "x\\udc00y"}', "lone surrogate"),
        (b'{"n": NaN}', "NaN is not JSON"),
        (b'{"n": -Infinity}', "Infinity is not JSON"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not JSON"),
        (b'{"a": 1', "not JSON"),
        (b" " * (1024 * 1024 + 1), "over the 1048576-byte cap"),
    ],
    ids=[
        "bracket bomb",
        "65 deep",
        "bad UTF-8",
        "lone surrogate",
        "lone low surrogate",
        "NaN",
        "-Infinity",
        "5000-digit int",
        "cut short",
        "over the cap",
    ],  # fmt: skip
)
def test_json_bombs_are_decode_errors(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        loads_bounded(raw, max_bytes=1024 * 1024, layer="ipfs", where="ipfs://bafy...")
    assert message in str(caught.value) and str(caught.value).startswith("[ipfs] ")


def test_bounded_json_reads_what_is_fine() -> None:
    document = {"name": "Gold #1", "deep": [[[[{"ok": "✓"}]]]], "text": '"[[[["'}
    import json

    assert loads_bounded(json.dumps(document).encode(), max_bytes=1000) == document
    assert loads_bounded(json.dumps(document), max_bytes=1000, max_depth=6) == document


@pytest.mark.parametrize(
    "answer", [b"[" * 50_000 + b"]" * 50_000, b'{"rows": "\\ud800"'], ids=["bracket bomb", "cut short"]
)
def test_api_answers_that_are_json_bombs_are_decode_errors(answer: bytes) -> None:
    with Hostile() as api:
        api.answer = Response(200, answer, {"Content-Type": "application/json"})

        async def go():
            async with PinataClient(api.url, "jwt", retry=ONCE) as pinata:
                with pytest.raises(DecodeError, match=r"\[pinata\] answer is not JSON"):
                    await pinata.pin_list()
            async with KVClient(f"{api.url}/client/v4", "a", "n", "t", retry=ONCE) as kv:
                with pytest.raises(DecodeError, match=r"\[kv\] answer is not JSON"):
                    await kv.list_keys("vdc:")

        asyncio.run(go())


def test_a_block_with_a_lone_surrogate_is_a_decode_error_not_a_crash() -> None:
    raw = b'{"blockNumber": 1, "txId": "\\ud800"}'
    with pytest.raises(DecodeError, match="lone surrogate"):
        parse_block(raw, where="vdc:block:1")


# -- images ----------------------------------------------------------------------------------------------
def _png(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, "PNG")
    return buffer.getvalue()


def _lying_ihdr(width: int, height: int) -> bytes:
    data = bytearray(_png())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_bombs_and_fakes_named_png_are_invalid(tmp_path: Path) -> None:
    files = {
        "Good": (_png(), None),
        "Bomb": (_lying_ihdr(100_000, 100_000), "bomb"),
        "Wide": (_lying_ihdr(5000, 16), "bad_dimensions"),
        "Jpeg": (b"\xff\xd8\xff\xe0" + b"\0" * 100, "not_png"),
        "Html": (b"<html><script>alert(1)</script></html>", "not_png"),
        "Empty": (b"", "not_png"),
        "Cut": (_png()[:60], "truncated"),
        "Huge": (_png() + b"\0" * (2 * 1024 * 1024), "too_large"),
    }
    for level, (data, _) in files.items():
        (tmp_path / f"{level}.png").write_bytes(data)
    records = scan_source_images(tmp_path, None, list(files), max_size_bytes=1024 * 1024, max_pixels=16_000_000,
                                 min_dimension=16, max_dimension=4096)  # fmt: skip
    found = {r.level: (r.status, r.invalid_reason) for r in records}
    assert found == {level: ("ok", None) if reason is None else ("invalid", reason) for level, (_, reason) in
                     files.items()}  # fmt: skip
    bomb = next(r for r in records if r.level == "Bomb")
    assert "decompression bomb: 100000x100000 = 10000000000 pixels" in bomb.error


# -- level names -----------------------------------------------------------------------------------------
BAD_LEVELS = ["../Gold", "Gold/../../etc/passwd", "..\\Gold", "/etc/passwd", "..", "Gold\x00.png", "a/b"]


@pytest.mark.parametrize("level", BAD_LEVELS)
def test_level_names_with_path_separators_are_refused_everywhere(tmp_path: Path, level: str) -> None:
    with pytest.raises(ValueError, match="refused"):
        validate_level_name(level)
    with pytest.raises(SettingsError, match="no paths"):
        load_settings(source_images={"supported_levels": ["Gold", level]})
    (tmp_path / "assets").mkdir(exist_ok=True)
    records = scan_source_images(tmp_path / "assets", tmp_path, [level], max_size_bytes=1, max_pixels=1,
                                 min_dimension=1, max_dimension=1)  # fmt: skip
    assert [(r.status, r.invalid_reason, r.path) for r in records] == [("invalid", "bad_level_name", "")]
    with pytest.raises(ValueError):
        restore_from_backup(level, tmp_path / "assets", tmp_path, "00" * 32)


# -- Borsh -----------------------------------------------------------------------------------------------
KEY = "11111111111111111111111111111112"
ACCOUNT = encode_metadata(
    Metadata(4, KEY, KEY, "Gold #1", "AIW3", "ipfs://bafy", 500, (Creator(KEY, True, 100),), False, False, 255, 0)
)


@pytest.mark.parametrize(
    "offset, value, message",
    [
        (65, 0xFFFFFFFF, "name: length 4294967295 exceeds the 32-byte maximum at byte offset 65"),
        (101, 11, "symbol: length 11 exceeds the 10-byte maximum at byte offset 101"),
        (115, 201, "uri: length 201 exceeds the 200-byte maximum at byte offset 115"),
        (322, 0xFFFFFFFF, "4294967295 creators, at most 5 allowed at byte offset 322"),
    ],
)
def test_borsh_lengths_that_lie_are_decode_errors(offset: int, value: int, message: str) -> None:
    data = bytearray(ACCOUNT)
    data[offset : offset + 4] = value.to_bytes(4, "little")
    with pytest.raises(DecodeError) as caught:
        decode_metadata(bytes(data), where="PDA")
    assert str(caught.value) == f"[solana] {message} (at PDA)"


def test_borsh_cut_anywhere_or_flipped_anywhere_is_only_ever_a_decode_error() -> None:
    outcomes = {"ok": 0, "decode": 0}
    for cut in range(len(ACCOUNT)):
        try:
            decode_metadata(ACCOUNT[:cut])
            outcomes["ok"] += 1
        except DecodeError:
            outcomes["decode"] += 1
    for position in range(0, 340):
        for value in (0x00, 0x02, 0x7F, 0xFF):
            data = bytearray(ACCOUNT)
            data[position] = value
            try:
                decode_metadata(bytes(data), strict=True)
                outcomes["ok"] += 1
            except DecodeError:
                outcomes["decode"] += 1
    assert outcomes["decode"] > 400 and sum(outcomes.values()) == len(ACCOUNT) + 340 * 4


def test_a_truncated_account_never_reads_past_its_end() -> None:
    with pytest.raises(DecodeError, match=r"uri: length 200 is longer than the \d+ bytes remaining"):
        decode_metadata(ACCOUNT[:150], where="PDA")


def test_a_gateway_serving_other_bytes_is_an_integrity_problem_not_an_outage(gateways) -> None:
    store, gw0, _ = gateways
    cid = store.add(b"real bytes")
    gw0.serve(cid, Response(200, b"other bytes"))
    read = fetch([gw0.url], cid)
    gw0.serve(cid, None)
    assert read.status == "invalid" and read.gateways[0].status == "integrity"
