"""The provider rate limit is shared: by every client in the process and by every process on the machine.

Measured where the provider measures it: the arrival times at the local Solana RPC server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from reconcile_pipeline.layers import ratelimit
from reconcile_pipeline.layers.ratelimit import TokenBucket
from reconcile_pipeline.layers.solana import SolanaClient
from reconcile_pipeline.sandbox.ledger import Ledger, new_signature
from reconcile_pipeline.sandbox.solana_rpc import SolanaRpcServer

LIMIT, WINDOW = 4, 0.6


class ClockedServer(SolanaRpcServer):
    def __init__(self) -> None:
        super().__init__(Ledger())
        self.arrivals: list[float] = []

    def route(self, request):
        self.arrivals.append(time.time())
        return super().route(request)


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[ClockedServer]:
    monkeypatch.setattr(ratelimit, "state_dir", lambda: tmp_path / "limits")
    with ClockedServer() as node:
        yield node


def max_in_window(stamps: list[float], window: float) -> int:
    stamps, most, start = sorted(stamps), 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def read_signatures(url: str, count: int) -> int:
    signatures = [new_signature(os.urandom(16)) for _ in range(count)]
    async with SolanaClient(
        url, signatures_per_call=1, requests_per_window=LIMIT, window_s=WINDOW, max_concurrency=8
    ) as client:
        reads = await client.signature_statuses(signatures)
    assert {read.status for read in reads.values()} == {"missing"}
    return client.request_count


def test_two_clients_in_one_process_share_the_limit(server: ClockedServer) -> None:
    async def both():
        return await asyncio.gather(read_signatures(server.url, 6), read_signatures(server.url, 6))

    assert asyncio.run(both()) == [6, 6]
    assert len(server.arrivals) == 12
    assert max_in_window(server.arrivals, WINDOW) <= LIMIT


def test_event_loops_in_threads_share_the_limit(server: ClockedServer) -> None:
    import threading

    threads = [threading.Thread(target=lambda: asyncio.run(read_signatures(server.url, 5))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.arrivals) == 10 and max_in_window(server.arrivals, WINDOW) <= LIMIT


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from reconcile_pipeline.layers import ratelimit
    ratelimit.state_dir = lambda: Path(sys.argv[2])
    from tests.test_ratelimit import read_signatures
    print(asyncio.run(read_signatures(sys.argv[1], 6)))
    """
)


def test_processes_share_the_limit(server: ClockedServer, tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, str(tmp_path / "limits")], env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=60)[0].decode().strip() for child in children]
    assert outputs == ["6", "6"] and [child.returncode for child in children] == [0, 0]
    assert len(server.arrivals) == 12
    assert max_in_window(server.arrivals, WINDOW) <= LIMIT


def test_separate_providers_do_not_share(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ratelimit, "state_dir", lambda: tmp_path)
    one = TokenBucket.for_provider("http://a.example/", 1, 5.0)
    assert TokenBucket.for_provider("http://a.example/", 1, 5.0) is one
    other = TokenBucket.for_provider("http://b.example/", 1, 5.0)

    async def take_both():
        await asyncio.wait_for(one.acquire(), 1)
        await asyncio.wait_for(other.acquire(), 1)  # would wait 5 s if it shared ``one``'s log

    asyncio.run(take_both())
    assert not any("a.example" in path.read_text() for path in tmp_path.iterdir())  # keys are hashed


def test_a_slot_held_by_a_dead_process_is_freed(tmp_path) -> None:
    bucket = TokenBucket(1, 60.0, path=tmp_path / "log.json")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {"x": [time.time(), True, int(dead.stdout)]}  # in flight, never released: its process is gone
    (tmp_path / "log.json").write_text(json.dumps(stale))
    asyncio.run(asyncio.wait_for(bucket.acquire(), 1))


def test_a_torn_log_starts_empty(tmp_path) -> None:
    (tmp_path / "log.json").write_text('{"x": [1.0, tru')
    bucket = TokenBucket(1, 60.0, path=tmp_path / "log.json")
    asyncio.run(asyncio.wait_for(bucket.acquire(), 1))
    bucket.release()
    (stamp, in_flight, pid), *_ = json.loads((tmp_path / "log.json").read_text()).values()
    assert (in_flight, pid) == (False, os.getpid()) and abs(stamp - time.time()) < 5


def test_a_request_counts_from_its_end(tmp_path) -> None:
    bucket = TokenBucket(1, 0.3, path=tmp_path / "log.json")

    async def two_requests():
        await bucket.acquire()
        await asyncio.sleep(0.3)  # a slow request: the provider may see it arrive late
        bucket.release()
        ended = time.time()
        await bucket.acquire()
        bucket.release()
        return time.time() - ended

    assert asyncio.run(two_requests()) >= 0.28
