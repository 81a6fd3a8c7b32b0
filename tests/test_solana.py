"""The Solana layer client against the local JSON-RPC node: batching, statuses, every error class."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from solana.rpc.jsonrpc import SolanaJsonRpcError
from solders.pubkey import Pubkey
from solders.rpc.responses import GetMultipleAccountsResp, GetProgramAccountsResp, GetSignatureStatusesResp

from reconcile_pipeline.layers.errors import DecodeError, LayerRateLimited, LayerServerError, LayerTimeout
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.layers.metaplex import (
    METADATA_PROGRAM_ID,
    Metadata,
    decode_metadata,
    encode_metadata,
    metadata_pda,
)
from reconcile_pipeline.layers.ratelimit import TokenBucket
from reconcile_pipeline.layers.solana import SolanaClient
from reconcile_pipeline.layers.solana_errors import RpcError, map_exception
from reconcile_pipeline.sandbox.ledger import Ledger, new_pubkey, new_signature
from reconcile_pipeline.sandbox.solana_rpc import SolanaRpcServer

AUTHORITY = new_pubkey(b"our-authority")
OTHER_AUTHORITY = new_pubkey(b"someone-else")
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)
GOOBERG = Path(__file__).parent / "data" / "metaplex" / "gooberg_2235.json"


def mint_of(i: int) -> str:
    return new_pubkey(f"mint-{i}".encode())


def sig_of(i: int) -> str:
    return new_signature(f"sig-{i}".encode())


def put_nft(ledger: Ledger, mint: str, authority: str = AUTHORITY) -> Metadata:
    md = Metadata(4, authority, mint, f"AIW3 #{mint[:4]}", "AIW3", f"ipfs://cid-{mint[:6]}", 0, None, True, False)
    ledger.set_account(metadata_pda(mint), encode_metadata(md), METADATA_PROGRAM_ID)
    return md


@pytest.fixture(scope="module")
def node() -> Iterator[SolanaRpcServer]:
    with SolanaRpcServer() as srv:
        yield srv


@pytest.fixture
def server(node: SolanaRpcServer) -> SolanaRpcServer:
    """The module's node, healthy, with zeroed counters and an empty ledger."""
    node.reset(Ledger())
    node.faults.flaky_every, node.faults.retry_after_s = 2, 1.0
    return node


@pytest.fixture
def ledger(server: SolanaRpcServer) -> Ledger:
    return server.ledger


def run(coro):
    return asyncio.run(coro)


async def read_mints(url: str, mints: list[str], **options) -> tuple[dict, int]:
    options.setdefault("retry", FAST)
    options.setdefault("timeout_s", 2.0)
    async with SolanaClient(url, **options) as client:
        return await client.metadata_for_mints(mints), client.request_count


def rpc(server: SolanaRpcServer, payload: object) -> object:
    return httpx.post(server.url + "/", content=json.dumps(payload), timeout=5).json()


def call(method: str, params: list | None = None, call_id: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params or []}


# -- the local node speaks the real protocol ---------------------------------------------------------


def test_account_shapes_are_the_real_nodes(server: SolanaRpcServer, ledger: Ledger) -> None:
    put_nft(ledger, mint_of(1))
    pda = metadata_pda(mint_of(1))
    payload = call("getMultipleAccounts", [[pda, metadata_pda(mint_of(2))], {"encoding": "base64"}])
    answer = rpc(server, payload)
    assert answer["result"]["context"]["slot"] == ledger.slot
    account = answer["result"]["value"][0]
    assert set(account) == {"data", "executable", "lamports", "owner", "rentEpoch", "space"}
    assert (account["owner"], account["space"], account["lamports"]) == (METADATA_PROGRAM_ID, 679, 5616720)
    assert account["data"][1] == "base64" and answer["result"]["value"][1] is None
    parsed = GetMultipleAccountsResp.from_json(json.dumps(answer))  # solders reads it as a real node's answer
    assert decode_metadata(parsed.value[0].data).mint == mint_of(1)
    single = rpc(server, call("getAccountInfo", [pda, {"encoding": "base64"}]))["result"]["value"]
    assert single == account


def test_limits_and_errors_are_the_real_nodes(server: SolanaRpcServer) -> None:
    too_many = rpc(server, call("getMultipleAccounts", [[mint_of(i) for i in range(101)]]))
    assert too_many["error"] == {"code": -32602, "message": "Too many inputs provided; max 100"}
    sigs = rpc(server, call("getSignatureStatuses", [[sig_of(i) for i in range(257)]]))
    assert sigs["error"] == {"code": -32602, "message": "Too many inputs provided; max 256"}
    assert rpc(server, call("getBlockProduction"))["error"] == {"code": -32601, "message": "Method not found"}
    assert rpc(server, call("getAccountInfo", ["nope"]))["error"]["code"] == -32602
    assert httpx.post(server.url, content=b"{oops").json()["error"]["code"] == -32700
    assert rpc(server, [])["error"]["code"] == -32600
    put_nft(server.ledger, mint_of(3))
    base58 = rpc(server, call("getAccountInfo", [metadata_pda(mint_of(3))]))  # default encoding: base58
    assert base58["error"]["code"] == -32600 and "please use Base64" in base58["error"]["message"]
    assert server.method_counts["getMultipleAccounts"] == 1 and server.method_counts["getBlockProduction"] == 1


def test_batch_requests_and_cluster_info(server: SolanaRpcServer, ledger: Ledger) -> None:
    answers = rpc(server, [call("getHealth", call_id=1), call("getSlot", call_id=2), call("nope", call_id=3)])
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == "ok" and answers[1]["result"] == ledger.slot
    assert answers[2]["error"]["code"] == -32601
    version = rpc(server, call("getVersion"))["result"]
    assert set(version) == {"solana-core", "feature-set"}
    latest = rpc(server, call("getLatestBlockhash"))["result"]["value"]
    assert latest["lastValidBlockHeight"] == ledger.slot + 150 and len(latest["blockhash"]) >= 32


def test_program_accounts_filters(server: SolanaRpcServer, ledger: Ledger) -> None:
    ours, theirs = put_nft(ledger, mint_of(1)), put_nft(ledger, mint_of(2), OTHER_AUTHORITY)
    ledger.set_account(new_pubkey(b"not-metadata"), b"\x04" + bytes(40), new_pubkey(b"another-program"))
    memcmp = {"memcmp": {"offset": 1, "bytes": AUTHORITY}}
    found = rpc(server, call("getProgramAccounts", [METADATA_PROGRAM_ID, {"encoding": "base64", "filters": [memcmp]}]))
    assert [item["pubkey"] for item in found["result"]] == [metadata_pda(ours.mint)]
    GetProgramAccountsResp.from_json(json.dumps(found))
    mint_b64 = base64.b64encode(bytes(Pubkey.from_string(theirs.mint))).decode()
    b64 = {"memcmp": {"offset": 33, "bytes": mint_b64, "encoding": "base64"}}
    config = {"encoding": "base64", "filters": [{"dataSize": 679}, b64], "withContext": True}
    with_context = rpc(server, call("getProgramAccounts", [METADATA_PROGRAM_ID, config]))["result"]
    assert with_context["context"]["slot"] == ledger.slot
    assert [item["pubkey"] for item in with_context["value"]] == [metadata_pda(theirs.mint)]
    wrong_size = {"encoding": "base64", "filters": [{"dataSize": 100}]}
    assert rpc(server, call("getProgramAccounts", [METADATA_PROGRAM_ID, wrong_size]))["result"] == []


def test_signature_status_shapes(server: SolanaRpcServer, ledger: Ledger) -> None:
    ledger.add_signature(sig_of(1), slot=7)
    ledger.add_signature(
        sig_of(2), slot=8, err={"InstructionError": [0, {"Custom": 1}]}, confirmation_status="confirmed"
    )
    params = [[sig_of(1), sig_of(2), sig_of(3)], {"searchTransactionHistory": True}]
    answer = rpc(server, call("getSignatureStatuses", params))
    ok, failed, unknown = answer["result"]["value"]
    assert ok == {
        "slot": 7,
        "confirmations": None,
        "err": None,
        "status": {"Ok": None},
        "confirmationStatus": "finalized",
    }
    assert failed["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}} and unknown is None
    GetSignatureStatusesResp.from_json(json.dumps(answer))


# -- the client: batching and statuses ---------------------------------------------------------------


def test_250_mints_take_exactly_three_calls(server: SolanaRpcServer, ledger: Ledger) -> None:
    mints = [mint_of(i) for i in range(250)]
    expected = {m: put_nft(ledger, m) for m in mints[:200]}
    reads, sent = run(read_mints(server.url, [*mints, mints[0]]))
    assert sent == 3 and server.method_counts == {"getMultipleAccounts": 3}
    assert list(reads) == mints
    assert all(reads[m].status == "ok" and reads[m].metadata == expected[m] for m in mints[:200])
    assert all(reads[m].pda == metadata_pda(m) and reads[m].owner == METADATA_PROGRAM_ID for m in mints[:200])
    missing = reads[mints[220]]
    assert (missing.status, missing.metadata, missing.error, missing.owner) == ("missing", None, None, None)


def test_600_signatures_take_exactly_three_calls(server: SolanaRpcServer, ledger: Ledger) -> None:
    sigs = [sig_of(i) for i in range(600)]
    ledger.add_signature(sigs[0], slot=11)
    ledger.add_signature(
        sigs[1], slot=12, err={"InstructionError": [0, {"Custom": 6001}]}, confirmation_status="confirmed"
    )
    ledger.add_signature(sigs[599], slot=13, err="AccountInUse")

    async def go():
        async with SolanaClient(server.url, retry=FAST) as client:
            return await client.signature_statuses([*sigs, "not-a-signature"]), client.request_count

    reads, sent = run(go())
    assert sent == 3 and server.method_counts == {"getSignatureStatuses": 3}
    first, failed, last = reads[sigs[0]], reads[sigs[1]], reads[sigs[599]]
    assert (first.status, first.slot, first.err, first.confirmation_status, first.succeeded) == (
        "ok",
        11,
        None,
        "finalized",
        True,
    )
    assert (failed.err, failed.confirmation_status, failed.succeeded) == (
        '{"InstructionError":[0,{"Custom":6001}]}',
        "confirmed",
        False,
    )
    assert (last.err, last.succeeded) == ("AccountInUse", False)
    assert reads[sigs[300]].status == "missing" and reads[sigs[300]].succeeded is None
    assert reads["not-a-signature"].status == "invalid"


def test_bad_mint_truncated_account_and_foreign_owner_are_invalid(server: SolanaRpcServer, ledger: Ledger) -> None:
    good, cut, foreign = mint_of(1), mint_of(2), mint_of(3)
    put_nft(ledger, good)
    ledger.set_account(metadata_pda(cut), encode_metadata(put_nft(ledger, cut))[:100], METADATA_PROGRAM_ID)
    ledger.set_account(metadata_pda(foreign), encode_metadata(put_nft(ledger, foreign)), OTHER_AUTHORITY)
    reads, _ = run(read_mints(server.url, [good, "0OIl-not-a-mint", cut, foreign]))
    assert reads[good].status == "ok"
    assert reads["0OIl-not-a-mint"].status == "invalid" and reads["0OIl-not-a-mint"].pda is None
    assert "not a base58 32-byte public key" in reads["0OIl-not-a-mint"].error
    truncated = reads[cut]
    assert truncated.status == "invalid" and truncated.metadata is None
    assert truncated.error == (
        f"[solana] name: length 32 is longer than the 31 bytes remaining at byte offset 65 (at {metadata_pda(cut)})"
    )
    assert reads[foreign].status == "invalid" and reads[foreign].owner == OTHER_AUTHORITY
    assert "not the metadata program" in reads[foreign].error


def test_published_mainnet_account_served_at_its_pda(server: SolanaRpcServer, ledger: Ledger) -> None:
    doc = json.loads(GOOBERG.read_text())
    data = base64.b64decode(doc["data_base64"])
    ledger.set_account(doc["published"]["address"], data, METADATA_PROGRAM_ID, lamports=doc["published"]["lamports"])
    mint = decode_metadata(data).mint
    reads, _ = run(read_mints(server.url, [mint]))
    assert reads[mint].status == "ok" and reads[mint].pda == doc["published"]["address"]
    assert reads[mint].metadata.name == "Gooberg #2235"


def test_metadata_by_update_authority_lists_only_ours(server: SolanaRpcServer, ledger: Ledger) -> None:
    ours = [put_nft(ledger, mint_of(i)) for i in range(5)]
    put_nft(ledger, mint_of(10), OTHER_AUTHORITY)
    broken = mint_of(20)
    ledger.set_account(metadata_pda(broken), encode_metadata(put_nft(ledger, broken))[:200], METADATA_PROGRAM_ID)

    async def go():
        async with SolanaClient(server.url, retry=FAST) as client:
            return await client.metadata_by_update_authority(AUTHORITY)

    reads = run(go())
    assert server.method_counts == {"getProgramAccounts": 1}
    by_status = {status: [r for r in reads if r.status == status] for status in ("ok", "invalid")}
    assert {r.mint for r in by_status["ok"]} == {m.mint for m in ours}
    assert [r.mint for r in by_status["invalid"]] == [broken] and "uri: length 200" in by_status["invalid"][0].error
    assert len(reads) == 6


def test_bad_authority_is_refused_before_any_call(server: SolanaRpcServer) -> None:
    async def go():
        async with SolanaClient(server.url, retry=FAST) as client:
            await client.metadata_by_update_authority("nope")

    with pytest.raises(DecodeError, match="not a base58 public key"):
        run(go())
    assert server.method_counts == {}


# -- the client: unknown is not missing -------------------------------------------------------------


def test_node_down_makes_every_entry_unavailable(server: SolanaRpcServer, ledger: Ledger) -> None:
    mints = [mint_of(i) for i in range(150)]
    for m in mints:
        put_nft(ledger, m)
    server.faults.mode = "down"
    reads, sent = run(read_mints(server.url, mints))
    assert {r.status for r in reads.values()} == {"unavailable"} and sent == 2 * FAST.attempts
    assert "transport failed" in reads[mints[0]].error


def test_refused_connection(ledger: Ledger) -> None:
    server = SolanaRpcServer(ledger).start()
    url = server.url
    server.stop()
    reads, _ = run(read_mints(url, [mint_of(1)]))
    assert reads[mint_of(1)].status == "unavailable" and "ConnectError" in reads[mint_of(1)].error


def test_one_failed_batch_leaves_the_others_readable(server: SolanaRpcServer, ledger: Ledger) -> None:
    mints = [mint_of(i) for i in range(250)]
    for m in mints:
        put_nft(ledger, m)
    server.fail_next(503)
    reads, sent = run(read_mints(server.url, mints, retry=RetryPolicy(attempts=1), max_concurrency=1))
    assert sent == 3
    assert {reads[m].status for m in mints[:100]} == {"unavailable"}
    assert "server error (HTTP 503)" in reads[mints[0]].error
    assert {reads[m].status for m in mints[100:]} == {"ok"}


def test_429_then_success_honours_retry_after(server: SolanaRpcServer, ledger: Ledger) -> None:
    put_nft(ledger, mint_of(1))
    server.fail_next(429, retry_after=0.3)
    started = time.monotonic()
    reads, sent = run(read_mints(server.url, [mint_of(1)], retry=RetryPolicy(attempts=2, base_delay_s=0.01)))
    assert reads[mint_of(1)].status == "ok" and sent == 2
    assert time.monotonic() - started >= 0.3  # our own backoff is 0.01 s: the wait came from Retry-After


def test_rate_limited_past_retries(server: SolanaRpcServer, ledger: Ledger) -> None:
    server.faults.mode, server.faults.retry_after_s = "ratelimit", 0.01
    reads, sent = run(read_mints(server.url, [mint_of(1)]))
    assert reads[mint_of(1)].status == "unavailable" and "rate limited (HTTP 429)" in reads[mint_of(1)].error
    assert sent == FAST.attempts

    async def listing():
        async with SolanaClient(server.url, retry=FAST) as client:
            await client.metadata_by_update_authority(AUTHORITY)

    with pytest.raises(LayerRateLimited) as info:
        run(listing())
    assert info.value.retry_after == 0.01 and info.value.kind == "rate_limited"


def test_server_errors_retried_then_reported(server: SolanaRpcServer, ledger: Ledger) -> None:
    put_nft(ledger, mint_of(1))
    server.faults.mode, server.faults.flaky_every = "flaky", 2  # every 2nd request fails: a retry succeeds
    reads = {}
    for i in range(4):
        reads.update(run(read_mints(server.url, [mint_of(1)]))[0])
        assert reads[mint_of(1)].status == "ok", i
    server.faults.mode = "error"

    async def listing():
        async with SolanaClient(server.url, retry=FAST) as client:
            await client.metadata_by_update_authority(AUTHORITY)

    with pytest.raises(LayerServerError) as info:
        run(listing())
    assert info.value.status_code == 503


def test_timeouts_and_deadline(server: SolanaRpcServer) -> None:
    server.faults.latency_s = 0.5
    started = time.monotonic()
    retry = RetryPolicy(attempts=2, base_delay_s=0.01)
    reads, sent = run(read_mints(server.url, [mint_of(1)], retry=retry, timeout_s=0.1))
    assert reads[mint_of(1)].status == "unavailable" and "timed out" in reads[mint_of(1)].error and sent == 2

    async def listing(timeout_s: float, retry: RetryPolicy) -> None:
        async with SolanaClient(server.url, timeout_s=timeout_s, retry=retry) as client:
            await client.metadata_by_update_authority(AUTHORITY)

    with pytest.raises(LayerTimeout) as info:
        run(listing(0.1, RetryPolicy(attempts=1)))
    assert info.value.kind == "timeout" and "getProgramAccounts" in info.value.where
    with pytest.raises(LayerTimeout):  # the overall deadline cuts a slow answer short of the 30 s timeout
        run(listing(30.0, RetryPolicy(attempts=5, base_delay_s=0.01, deadline_s=0.25)))
    assert time.monotonic() - started < 2.5


def test_truncated_response(server: SolanaRpcServer, ledger: Ledger) -> None:
    put_nft(ledger, mint_of(1))
    server.faults.mode = "truncate"
    reads, sent = run(read_mints(server.url, [mint_of(1)]))
    assert reads[mint_of(1)].status == "unavailable" and sent == FAST.attempts
    assert "transport failed" in reads[mint_of(1)].error


def test_rpc_errors_keep_their_code(server: SolanaRpcServer) -> None:
    async def go():
        async with SolanaClient(server.url, retry=FAST) as client:
            try:
                await client._call("getBlockProduction", [])
            finally:
                assert client.request_count == 1  # -32601 is not retried

    with pytest.raises(RpcError) as info:
        run(go())
    assert (info.value.code, info.value.kind, info.value.layer) == (-32601, "rpc_error", "solana")
    behind = map_exception(SolanaJsonRpcError(-32005, "Node is behind", request_id=1), "here")
    assert isinstance(behind, RpcError) and behind.code == -32005
    assert isinstance(map_exception(SolanaJsonRpcError(429, "slow down", request_id=1), "here"), LayerRateLimited)
    assert isinstance(map_exception(ValueError("bad json"), "here"), DecodeError)


def test_malformed_account_from_the_node_is_unavailable_not_invalid(ledger: Ledger) -> None:
    class GarblingServer(SolanaRpcServer):
        def _get_multiple_accounts(self, params):
            result = super()._get_multiple_accounts(params)
            result["value"][0]["data"] = ["!!not base64!!", "base64"]
            return result

    put_nft(ledger, mint_of(1))
    put_nft(ledger, mint_of(2))
    with GarblingServer(ledger) as server:
        reads, _ = run(read_mints(server.url, [mint_of(1), mint_of(2)]))
    assert reads[mint_of(1)].status == "unavailable" and "malformed account" in reads[mint_of(1)].error
    assert reads[mint_of(2)].status == "ok"


# -- pacing -----------------------------------------------------------------------------------------


def test_token_bucket_limits_calls_per_window(ledger: Ledger) -> None:
    class ClockedServer(SolanaRpcServer):
        arrivals: list[float] = []

        def route(self, request):
            self.arrivals.append(time.monotonic())
            return super().route(request)

    with ClockedServer(ledger) as server:
        sigs = [sig_of(i) for i in range(7)]

        async def go():
            async with SolanaClient(
                server.url, signatures_per_call=1, requests_per_window=3, window_s=0.3, max_concurrency=7
            ) as client:
                return await client.signature_statuses(sigs), client.request_count

        started = time.monotonic()
        reads, sent = run(go())
        elapsed = time.monotonic() - started
    assert sent == 7 and {r.status for r in reads.values()} == {"missing"}
    arrivals = sorted(server.arrivals)
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[3:], strict=False)]
    assert min(gaps) >= 0.25, gaps  # the client spaces sends by 0.3 s; arrival adds a little connection jitter
    assert 0.6 <= elapsed < 2.0


def test_token_bucket_alone() -> None:
    async def go():
        bucket, stamps = TokenBucket(2, 0.2), []
        for _ in range(5):
            await bucket.acquire()
            stamps.append(time.monotonic())
            bucket.release()
        return stamps

    stamps = run(go())
    assert stamps[1] - stamps[0] < 0.05 and stamps[2] - stamps[0] >= 0.19 and stamps[4] - stamps[0] >= 0.39


def test_secrets_in_the_rpc_url_stay_out_of_errors(server: SolanaRpcServer, ledger: Ledger) -> None:
    put_nft(ledger, mint_of(1))
    url = f"{server.url}/SECRET-TOKEN/?api-key=abc123"  # hosted endpoints carry keys in the path or query
    reads, sent = run(read_mints(url, [mint_of(1), mint_of(2)], accounts_per_call=1))
    assert (reads[mint_of(1)].status, reads[mint_of(2)].status, sent) == ("ok", "missing", 2)
    server.faults.mode = "error"
    reads, sent = run(read_mints(url, [mint_of(1)], retry=RetryPolicy(attempts=1)))
    assert (reads[mint_of(1)].status, sent) == ("unavailable", 1)
    assert reads[mint_of(1)].error == f"[solana] server error (HTTP 503) (at {server.url} getMultipleAccounts)"
    server.faults.reset()
    assert httpx.get(url).status_code == 405


def test_listing_by_mint_first_bytes_takes_one_call_per_byte(server: SolanaRpcServer, ledger: Ledger) -> None:
    from reconcile_pipeline.shards import Shard, mint_first_byte

    mints = [mint_of(i) for i in range(40)]
    for mint in mints:
        put_nft(ledger, mint)
    put_nft(ledger, mint_of(99), OTHER_AUTHORITY)
    shard = Shard(1, 64)  # bytes 1, 65, 129, 193

    async def go(first_bytes):
        async with SolanaClient(server.url, retry=FAST, requests_per_window=10_000) as client:
            return await client.metadata_by_update_authority(AUTHORITY, first_bytes)

    reads = run(go(shard.first_bytes()))
    assert server.method_counts == {"getProgramAccounts": 4}
    assert sorted(r.mint for r in reads) == sorted(m for m in mints if shard.holds(mint_first_byte(m)))
    every = [r.mint for s in range(4) for r in run(go(Shard(s, 4).first_bytes()))]
    assert sorted(every) == sorted(mints)  # the shards of the listing partition it
    assert run(go([])) == []
