"""Hostile data from the chain, IPFS and the files, through a whole reconciliation of a local world.

A clean world (no catalogue faults) is built, then turned hostile before it is served: metadata URIs
and image URLs aimed at an "attacker" server on 127.0.0.2 (and at private, link-local and IPv4-mapped
addresses, and other schemes), gateways that redirect to it, serve endless bodies or gzip bombs,
JSON that nests, lies about its encoding, or is too large, level names with path separators, Borsh
account data with lying lengths, and source images that are decompression bombs or no PNG at all.

One run must turn each into a clear finding (checked per entity below), and the attacker — neither a
configured gateway nor allowlisted, though the local world allows private addresses for its own
gateways — must receive no request at all.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from PIL import Image

from reconcile_pipeline.layers.metaplex import METADATA_PROGRAM_ID
from reconcile_pipeline.runner import RunSummary, run_reconciliation
from reconcile_pipeline.sandbox.httpserver import LoopbackServer, Request, Response
from reconcile_pipeline.sandbox.loaders import account_data
from reconcile_pipeline.sandbox.nft_world import add_content, compact_json, metadata_document
from reconcile_pipeline.sandbox.world import LocalWorld
from reconcile_pipeline.sandbox.worlddata import NftRecord, WorldData, WorldSpec

FAST = {"RECONCILE_HTTP__MAX_RETRY_ATTEMPTS": "1", "RECONCILE_HTTP__TIMEOUT_S": "2", "RECONCILE_IPFS__TIMEOUT_S": "2"}


class Attacker(LoopbackServer):
    """Where hostile URLs point: it must never be asked for anything by the pipeline."""

    name = "attacker"

    def route(self, request: Request) -> Response:
        return Response(200, b'{"name": "pwned", "image": "http://127.0.0.2/x.png"}')


def bomb_png(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims ``width`` x ``height`` (CRC fixed): a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def endless_body() -> Response:
    """A 200 whose chunked body never ends."""
    return Response(200, headers={"Content-Type": "application/json"}, stream=iter(lambda: b" " * 65536, None))


def gzip_bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


# -- the hostile world ---------------------------------------------------------------------------------
@dataclass
class Case:
    label: str
    fails: set[str]  # the check ids that must fail for this NFT (exactly)
    unknown: set[str]  # the check ids that must be unknown for it (at least)
    text: str  # words the finding's details must carry


class HostileWorld(LocalWorld):
    """A clean world made hostile between building and serving (see the module docstring)."""

    def __init__(self, spec: WorldSpec, directory, attacker: str) -> None:
        super().__init__(spec, directory)
        self.attacker = attacker
        self.cases: dict[str, Case] = {}

    def _load(self) -> None:
        self._poison(self.data)
        super()._load()
        self._poison_servers()

    def nft(self, index: int) -> NftRecord:
        return sorted(self.data.nfts, key=lambda n: n.index)[index]

    def case(self, index: int, label: str, fails: set[str], text: str, unknown: set[str] = frozenset()) -> NftRecord:
        nft = self.nft(index)
        self.cases[nft.mint] = Case(label, set(fails), set(unknown), text)
        return nft

    def _poison(self, data: WorldData) -> None:
        a, port = self.attacker, self.attacker.rsplit(":", 1)[1]
        partner = "PARTNER_VERIFICATION_FAILED"
        for index, (uri, text) in enumerate(
            [
                (f"{a}/meta.json", "host not allowlisted: 127.0.0.2"),
                ("file:///etc/passwd", "scheme not allowed: file"),
                ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
                (f"http://[::ffff:127.0.0.2]:{port}/meta.json", "::ffff:127.0.0.2"),
                ("http://10.0.0.7/meta.json", "10.0.0.7"),
            ]
        ):
            self.case(index, f"metadata URI {uri}", {partner}, text).uri = uri
        safe = self.case(5, "a gateway URL on the attacker's host", set(), "")
        safe.uri = f"{a}/ipfs/{safe.json_cid}"  # rewritten to the configured gateways: served, never asked
        self._json(6, "image URL at the attacker", {"DB_IPFS_REFERENCE_MISMATCH", partner}, "image refused",
                   image=f"{a}/img.png")  # fmt: skip
        gopher = self._json(7, "image URL with another scheme", {partner}, "scheme not allowed: gopher",
                            image=f"gopher://127.0.0.2:{port}/x")  # fmt: skip
        gopher.image_uri = f"gopher://127.0.0.2:{port}/x"  # the DB names it too
        invalid = {"IPFS_METADATA_INVALID", partner}
        self._raw(8, "JSON nested 40 deep", invalid, "required field missing", b'{"a":' * 40 + b"1" + b"}" * 40)
        self._raw(9, "JSON not UTF-8", invalid | {"DB_IPFS_REFERENCE_MISMATCH"}, "attributes[Level]",
                  b'{"name":"n\xff\xfe","image":"ipfs://x","attributes":[]}')  # fmt: skip
        nft = self.nft(10)
        self._raw(10, "JSON with a lone surrogate", {"IPFS_METADATA_INVALID"}, "not text: name",
                  b'{"name":"\\ud800","image":"%s","attributes":[{"trait_type":"Level","value":"%s"}]}'
                  % (nft.image_uri.encode(), nft.level.encode()))  # fmt: skip
        padded = {"name": "n", "image": nft.image_uri, "pad": "A" * 1_100_000}
        self._raw(11, "JSON over the JSON byte cap", invalid, "byte cap", compact_json(padded))
        self._json(12, "Level ../../etc/passwd", invalid, "../../etc/passwd", level="../../etc/passwd")
        self.case(13, "DB level ../../../etc/passwd", {"IPFS_METADATA_INVALID"}, "../../../etc/passwd").db_overrides = {
            "level": "../../../etc/passwd"
        }
        gif = add_content(data, b"GIF89a\x01\x00\x01\x00 not a png", "fake.png")
        self._json(14, "image is a GIF named .png", {"IPFS_SOURCE_MISMATCH", "DB_IPFS_REFERENCE_MISMATCH"},
                   "registry_hash", image=f"ipfs://{gif}")  # fmt: skip
        missing = {"CHAIN_METADATA_MISSING", partner}
        self.case(15, "Borsh name length 0xFFFFFFF0", missing, "name: length 4294967280 exceeds the 32-byte maximum")
        self.case(16, "Borsh uri longer than the account", missing, "uri: length 200 is longer than")
        self.case(17, "metadata redirects to the attacker", set(), "redirect refused",
                  unknown={"DATABASE_SUCCESS_IPFS_FAILURE", partner})  # fmt: skip
        self.case(18, "metadata is an endless body", invalid, "over the byte cap")
        self.case(19, "image is a gzip bomb", {"DATABASE_SUCCESS_IPFS_FAILURE", partner}, "image")
        self._raw(20, "JSON bracket bomb", invalid, "nested too deeply", b"[" * 100_000 + b"]" * 100_000)
        nft = self.nft(21)
        self._raw(21, "image with a lone surrogate", invalid, "not text: image",
                  b'{"name":"n","image":"\\udc00","attributes":[{"trait_type":"Level","value":"%s"}]}'
                  % nft.level.encode())  # fmt: skip
        self._levels(data)

    def _json(self, index: int, label: str, fails: set[str], text: str, *, image: str = "", level: str = ""):
        nft = self.nft(index)
        document = metadata_document(nft.name, level or nft.level, image or nft.image_uri)
        return self._raw(index, label, fails, text, compact_json(document))

    def _raw(self, index: int, label: str, fails: set[str], text: str, raw: bytes) -> NftRecord:
        nft = self.case(index, label, fails, text)
        nft.uri = f"ipfs://{add_content(self.data, raw, f'hostile-{index}.json')}"
        return nft

    def _levels(self, data: WorldData) -> None:
        template = data.registry[0]
        for number, (level, image) in enumerate([("Ruby", bomb_png(50_000, 50_000)), ("Onyx", b"<html>hi</html>")]):
            data.levels.append(level)
            data.source_files[level] = data.backup_files[level] = image
            row = {"level": level, "file_path": f"assets/images/{level}.png"}
            digest = hashlib.sha256(image).hexdigest()
            data.registry.append(template | row | {"id": f"00000000-0000-4000-8000-00000000000{number}",
                                                   "file_hash": digest})  # fmt: skip

    def _poison_servers(self) -> None:
        servers = self.servers
        for index, cut in ((15, None), (16, 150)):
            nft = self.nft(index)
            data = bytearray(account_data(nft))
            if cut is None:
                data[65:69] = (0xFFFFFFF0).to_bytes(4, "little")  # the name's u32 length
            servers.ledger.set_account(nft.pda, bytes(data[:cut]), owner=METADATA_PROGRAM_ID)
        redirect = Response(302, b"", {"Location": f"{self.attacker}/steal"})
        bomb = Response(200, gzip_bomb(64 * 1024 * 1024), {"Content-Encoding": "gzip", "Content-Type": "image/png"})
        for gateway in servers.gateways:
            gateway.serve(self.nft(17).json_cid, redirect)
            gateway.serve(self.nft(18).json_cid, endless_body)
            gateway.serve(self.nft(19).image_cid, bomb)


@dataclass
class HostileRun:
    world: HostileWorld
    attacker: Attacker
    summary: RunSummary
    findings: pd.DataFrame
    attacker_requests: int


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[HostileRun]:
    folder = tmp_path_factory.mktemp("hostile")
    with Attacker(host="127.0.0.2") as attacker, HostileWorld(WorldSpec(seed=5, nfts=22, blocks=2, faults=[]),
                                                              folder, attacker.url) as world:  # fmt: skip
        config = world.write_config(folder / "reconcile.toml")
        with pytest.MonkeyPatch.context() as env:
            for name, value in FAST.items():
                env.setenv(name, value)
            summary = run_reconciliation(str(config), cadence="regular")
        requests = sum(attacker.requests.values())
        findings = pd.read_parquet(summary.assets["consistency_findings"]["path"]) if summary.success else None
        yield HostileRun(world, attacker, summary, findings, requests)


def test_the_run_completes_and_the_attacker_is_never_asked(hostile: HostileRun) -> None:
    assert hostile.summary.success
    assert hostile.attacker_requests == 0
    with urllib.request.urlopen(f"{hostile.attacker.url}/canary", timeout=5) as answer:  # it was reachable
        assert answer.status == 200
    assert hostile.attacker.requests["GET /canary"] == 1


def test_each_hostile_input_is_a_clear_finding(hostile: HostileRun) -> None:
    findings = hostile.findings
    problems = []
    for mint, case in hostile.world.cases.items():
        mine = findings[findings["entity_id"] == mint]
        fails = set(mine.loc[mine["status"] == "fail", "check_id"])
        unknown = set(mine.loc[mine["status"] == "unknown", "check_id"])
        details = " ".join(mine["details"])
        if fails != case.fails or not case.unknown <= unknown or case.text not in details:
            problems.append(f"{case.label}: fails {sorted(fails)}, unknown {sorted(unknown)}: {details[:300]}")
    assert not problems, "\n".join(problems)


def test_bad_source_files_are_invalid_and_nothing_else_fails(hostile: HostileRun) -> None:
    findings = hostile.findings
    others = findings[~findings["entity_id"].isin(hostile.world.cases)]
    redirected = hostile.world.nft(17).json_cid  # its gateways only redirect: per-CID checks are unknown
    assert set(zip(others["check_id"], others["entity_id"], others["status"], strict=True)) == {
        ("SOURCE_INVALID", "Ruby", "fail"),
        ("SOURCE_INVALID", "Onyx", "fail"),
        ("IPFS_CID_INTEGRITY", redirected, "unknown"),
        ("IPFS_PROPAGATION_PARTIAL", redirected, "unknown"),
    }
    details = dict(zip(others["entity_id"], others["details"], strict=True))
    assert "decompression bomb: 50000x50000" in details["Ruby"] and "not a PNG" in details["Onyx"]


def test_nothing_is_planned_from_unknown_nor_towards_a_path(hostile: HostileRun) -> None:
    if "repair_plan" not in hostile.summary.assets:
        pytest.skip("no repair_plan asset yet")
    plan = pd.read_parquet(hostile.summary.assets["repair_plan"]["path"])
    unknown = hostile.findings[hostile.findings["status"] == "unknown"]
    assert not set(zip(plan["check_id"], plan["entity_id"], strict=True)) & set(
        zip(unknown["check_id"], unknown["entity_id"], strict=True)
    )
    assert not plan["target"].astype(str).str.contains(r"\.\./", regex=True).any()


def test_no_repair_writes_a_url_the_policy_refuses(hostile: HostileRun) -> None:
    plan = pd.read_parquet(hostile.summary.assets["repair_plan"]["path"])
    targets = " ".join(plan["target"].astype(str))
    assert hostile.attacker.url not in targets and '"ipfs://x"' not in targets


def test_every_refused_reference_is_recorded_not_fetched(hostile: HostileRun) -> None:
    objects = pd.read_parquet(hostile.summary.assets["ipfs_objects"]["path"])
    refused = objects[objects["status"] == "refused"]
    uris = {uri for row in refused["uris"] for uri in row}
    attacker_port = hostile.attacker.url.rsplit(":", 1)[1]
    assert {u for u in uris if attacker_port in u} == {
        f"{hostile.attacker.url}/meta.json",
        f"http://[::ffff:127.0.0.2]:{attacker_port}/meta.json",
        f"{hostile.attacker.url}/img.png",
        f"gopher://127.0.0.2:{attacker_port}/x",
    }
    assert json.dumps(sorted(refused["error"].astype(str))).count("not allowlisted") >= 5


@pytest.mark.parametrize(
    "document",
    [b"[" * 100_000 + b"]" * 100_000, b'{"name": "n", "image": "\\udc00", "attributes": []}'],
    ids=["bracket bomb", "lone surrogate image"],
)
def test_the_ipfs_snapshot_survives_json_the_checks_reject(hostile: HostileRun, document: bytes) -> None:
    import asyncio

    from reconcile_pipeline.settings import load_settings
    from reconcile_pipeline.snapshots.ipfs import snapshot_ipfs_objects

    cid = hostile.world.servers.store.add(document)
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAST.items():
            env.setenv(name, value)
        settings = load_settings(hostile.world.directory / "reconcile.toml")
        snapshot = asyncio.run(snapshot_ipfs_objects(settings, [f"ipfs://{cid}"], []))
    snapshot.frame.to_parquet(io.BytesIO())  # what the IO manager does with it
    assert list(snapshot.frame["status"]) == ["ok"]
