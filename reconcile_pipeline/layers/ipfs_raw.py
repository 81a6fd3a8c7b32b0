"""Trustless gateway reads: a CID's root block in raw form, verified whatever the gateway sends back.

A trustless gateway (``/ipfs/CID?format=raw`` with ``Accept: application/vnd.ipld.raw``) answers with the
CID's root block: for a multi-chunk UnixFS file a small dag-pb node, for a single-chunk file about the file.
Not every gateway honours it (js-ipfs ignores both the query and the header and sends the whole file), and a
header proves nothing, so the body is judged by its bytes alone (:func:`verify_raw`): it is the block when
its sha2-256 is the CID's digest, the file when the UnixFS encoder rebuilds the CID from it, else wrong bytes.
"""

from __future__ import annotations

import hashlib

from .cid import CID, SHA2_256
from .unixfs import cid_matches

__all__ = ["RAW_ACCEPT", "RAW_HEADERS", "RAW_QUERY", "verify_raw"]

RAW_ACCEPT = "application/vnd.ipld.raw"
RAW_QUERY = "?format=raw"
RAW_HEADERS = {"Accept": RAW_ACCEPT}


def verify_raw(cid: CID, body: bytes) -> str | None:
    """``"block"`` when ``body`` is the block ``cid`` names, ``"file"`` when it is the whole content, else None."""
    if cid.hash_code == SHA2_256 and hashlib.sha256(body).digest() == cid.digest:
        return "block"
    return "file" if cid_matches(cid, body) else None
