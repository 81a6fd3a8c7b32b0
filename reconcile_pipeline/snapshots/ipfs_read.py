"""Read one IPFS object for the snapshot: fetch and verify, or reuse verified content and probe availability.

``deep`` GETs the object from every gateway and verifies each copy. ``regular`` takes content already
verified by CID from :class:`~.content.VerifiedContent` and only probes the gateways; content not yet
verified is read once (first gateway whose bytes verify) and the other gateways are probed. A probe asks
EVERY configured gateway for the CID's root block in raw form and verifies it (:meth:`IpfsGatewayClient.probe`):
every gateway is checked for every CID on every run, and for verified content no bytes beyond root blocks
move (a multi-chunk file's root is a small dag-pb node). A sub-path is probed with HEAD (nothing to verify).
A gateway seen serving wrong or oversized bytes during a read keeps that status, whatever its probe says.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from concurrent.futures import Executor

from ..layers.ipfs import summarise
from .content import Known, VerifiedContent

BAD_BYTES = frozenset({"integrity", "too_large"})


def merged_statuses(*groups: list) -> dict[str, str]:
    """Gateway -> status; later groups win, except that a gateway seen serving bad bytes stays bad."""
    statuses: dict[str, str] = {}
    for reads in groups:
        for read in reads:
            if statuses.get(read.gateway) not in BAD_BYTES:
                statuses[read.gateway] = read.status
    return statuses


def _set_gateways(row: dict, statuses: dict[str, str]) -> None:
    row.update(
        gateway_statuses=json.dumps(statuses),
        gateways_ok=sum(s == "ok" for s in statuses.values()),
        gateways_integrity=sum(s == "integrity" for s in statuses.values()),
    )


def _set_content(row: dict, content: bytes, max_json_bytes: int) -> None:
    row.update(size=len(content), sha256=hashlib.sha256(content).hexdigest())
    if row["role"] == "metadata" and len(content) <= max_json_bytes:
        row["content_text"] = content.decode("utf-8", errors="replace")


def fill_read(row: dict, read, gateway_reads: list, max_json_bytes: int) -> None:
    """A fresh read (``read``: the ObjectRead) plus the per-gateway reads (GET everywhere, or HEAD)."""
    row.update(status=read.status, verified=read.verified, error=read.error)
    if read.content is not None:
        _set_content(row, read.content, max_json_bytes)
    bad_copies = [g for g in read.gateways if g.status in BAD_BYTES]
    _set_gateways(row, merged_statuses(gateway_reads or read.gateways, bad_copies))


def fill_known(row: dict, known: Known, probes: list, max_json_bytes: int) -> None:
    """Verified content we hold: the probes decide the status (content only when still available)."""
    status, error = summarise(probes)
    row.update(status=status, error=error, verified=status == "ok")
    if status == "ok":
        if known.content is not None:
            _set_content(row, known.content, max_json_bytes)
        else:
            row.update(size=known.size, sha256=known.sha256)
    _set_gateways(row, merged_statuses(probes))


ARCHIVE_WRITERS = 8  # threads writing the content archive (the event loop never waits for a disk write)


async def record_fetched(
    content: VerifiedContent, writers: Executor | None, cid: str, status: str, data: bytes | None, verified: bool
) -> None:
    """``content.fetched(...)``: with ``writers``, verified bytes are put into the archive on those threads first
    (so the event loop's requests never wait for a disk write); ``fetched`` is told whether they were."""
    archive, archived = content.archive, None
    if writers is not None and archive is not None and verified and data is not None:
        # the gateway client checked the CID; a copy lost in a crash is only downloaded again (reads re-verify)
        put = functools.partial(archive.put, cid, data, verified=True, durable=False)
        try:
            archived = await asyncio.get_running_loop().run_in_executor(writers, put)
        except OSError:
            pass  # ``fetched`` tries again and logs it
    content.fetched(cid, status, data, verified, archived)


async def read_object(
    gateway,
    row: dict,
    mode: str,
    max_json_bytes: int,
    content: VerifiedContent,
    writers: Executor | None = None,
) -> None:
    """Fill ``row`` (a snapshot row with cid, path, role) by reading its object; every gateway is judged (a
    gateway the GET found the content on, or found without it, is not asked again)."""
    cid, path = row["cid"], row["path"]
    known = None if path else content.lookup(cid, need_bytes=row["role"] == "metadata")
    if known is not None:
        fill_known(row, known, await gateway.probe(cid), max_json_bytes)
        content.reuse(cid, known, row["status"])
        return
    read = await gateway.fetch(cid, path)
    answered = [g for g in read.gateways if g.status in ("ok", "missing")]  # not asked again (a hang costs a timeout)
    if mode == "deep" and not path:
        per_gateway = await gateway.fetch_all_gateways(cid)
    else:
        per_gateway = await gateway.probe(cid, path, known=answered)
    fill_read(row, read, per_gateway, max_json_bytes)
    if not path:
        await record_fetched(content, writers, cid, read.status, read.content, read.verified)
